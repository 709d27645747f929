-- syntax_error.lua -- does not compile (line 3): the load error must be
-- logged with file:line and the script retried with backoff.
local x = = 1
