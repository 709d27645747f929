-- table_error.lua -- raises a table, which carries no position: the log must
-- still name the file and the raising line (3).
error({code = 42})
