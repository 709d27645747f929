-- evcast_legacy.lua -- Wireshark dissector for the legacy FreeSWITCH
-- mod_event_multicast wire format that evcast speaks (docs/PROTOCOL.md Appendix C).
--
-- Plaintext datagram: event text ("Name: url-encoded-value\n" lines, then
-- "Content-Length: N\n\n" + body, or "\n"), MAGIC (21 bytes), then usually a
-- 272-byte zero tail. PSK datagram: a 256-byte header (36-char UUID + zeros;
-- the IV is the UUID's first 8 bytes), then Blowfish-CBC ciphertext (shown,
-- not decrypted: there is no MAC and no key in the capture).
-- Registered on UDP port 4242 (preference) and as a heuristic UDP dissector.
-- A v2 datagram (magic EC A5 76 32) on the shared port is handed to the
-- evcast_v2 dissector (contrib/wireshark/evcast_v2.lua) when it is loaded.
-- Install: copy to ~/.local/lib/wireshark/plugins/ (or run
-- `tshark -X lua_script:evcast_legacy.lua ...`).

local p = Proto("evcast_legacy", "evcast legacy multicast event (mod_event_multicast)")

local MAGIC = ByteArray.new("e284b1c598c68ed3acc59ed0a9d087c5a6cf9ac4a6")
local MAGIC_LEN = 21
local UUID_HDR = 256

local f = {
	mode = ProtoField.string("evcast_legacy.mode", "Mode"),
	event_name = ProtoField.string("evcast_legacy.event_name", "Event-Name"),
	subclass = ProtoField.string("evcast_legacy.subclass", "Event-Subclass"),
	sender = ProtoField.string("evcast_legacy.sender", "Multicast-Sender"),
	header = ProtoField.string("evcast_legacy.header", "Header"),
	hname = ProtoField.string("evcast_legacy.header.name", "Name"),
	hvalue = ProtoField.string("evcast_legacy.header.value", "Value (decoded)"),
	hraw = ProtoField.string("evcast_legacy.header.raw", "Value (on the wire)"),
	nheaders = ProtoField.uint32("evcast_legacy.headers", "Headers"),
	clen = ProtoField.uint32("evcast_legacy.content_length", "Content-Length"),
	body = ProtoField.string("evcast_legacy.body", "Body"),
	magic = ProtoField.bytes("evcast_legacy.magic", "MAGIC"),
	tail = ProtoField.uint32("evcast_legacy.tail_len", "Trailing bytes after MAGIC"),
	uuid = ProtoField.string("evcast_legacy.uuid", "UUID"),
	iv = ProtoField.string("evcast_legacy.iv", "IV (first 8 UUID characters)"),
	ctext = ProtoField.bytes("evcast_legacy.ciphertext", "Ciphertext (Blowfish-CBC)"),
	clen_ct = ProtoField.uint32("evcast_legacy.ciphertext_len", "Ciphertext length"),
}
p.fields = f

local ef_trunc = ProtoExpert.new("evcast_legacy.trunc", "Body shorter than Content-Length",
	expert.group.MALFORMED, expert.severity.ERROR)
local ef_small = ProtoExpert.new("evcast_legacy.small",
	"Datagram of 256 bytes or less: a FreeSWITCH receiver silently ignores it",
	expert.group.PROTOCOL, expert.severity.WARN)
local ef_line = ProtoExpert.new("evcast_legacy.badline", "Header line without ': '",
	expert.group.MALFORMED, expert.severity.WARN)
local ef_cbc = ProtoExpert.new("evcast_legacy.badcbc", "Ciphertext length is not a multiple of 8",
	expert.group.MALFORMED, expert.severity.ERROR)
p.experts = {ef_trunc, ef_small, ef_line, ef_cbc}

p.prefs.port = Pref.uint("UDP port", 4242, "UDP port of event_multicast.conf")
p.prefs.heuristic = Pref.bool("Heuristic detection", true, "Also recognise the format on other UDP ports")

-- %XX (either case) -> byte; everything else literal (no '+' rule).
local function url_decode(s)
	return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- Offset (0-based) of MAGIC in tvb, or nil.
local function find_magic(tvb)
	local len = tvb:len()
	if len < MAGIC_LEN then return nil end
	local s = tvb:raw(0, len)
	local m = MAGIC:raw()
	local pos = s:find(m, 1, true)
	return pos and (pos - 1) or nil
end

local function is_uuid_header(tvb)
	if tvb:len() < UUID_HDR + 8 then return false end
	local u = tvb:raw(0, 36)
	if not u:match("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$") then
		return false
	end
	local z = tvb:raw(36, UUID_HDR - 36)
	return z == string.rep("\0", UUID_HDR - 36)
end

local function dissect_plain(tvb, pinfo, tree, mpos)
	tree:add(f.mode, tvb(0, 0), "plaintext")
	local text = tvb:raw(0, mpos)
	local off, n = 0, 0
	local name, sub, sender
	local hdrs = tree:add(p, tvb(0, mpos), "Event headers")
	while off < mpos do
		local eol = text:find("\n", off + 1, true)
		if not eol then eol = mpos + 1 end
		local line = text:sub(off + 1, eol - 1):gsub("\r$", "")
		local linelen = eol - off
		if line == "" then
			off = off + linelen
			break
		end
		local hn, hv = line:match("^([^:]+): ?(.*)$")
		if hn and hn == "Content-Length" then
			local cl = tonumber(hv) or 0
			tree:add(f.clen, tvb(off, math.min(linelen, mpos - off)), cl)
			off = off + linelen
			-- the blank line, then the body
			local bl = text:find("\n", off + 1, true)
			if bl then off = bl end
			local avail = mpos - off
			if cl > avail then
				tree:add_proto_expert_info(ef_trunc)
				cl = avail
			end
			if cl > 0 then tree:add(f.body, tvb(off, cl)) end
			off = off + cl
			break
		end
		local item = hdrs:add(f.header, tvb(off, math.min(linelen, mpos - off)), line)
		if hn then
			local dv = url_decode(hv)
			item:add(f.hname, tvb(off, #hn), hn)
			item:add(f.hvalue, tvb(off, math.min(linelen, mpos - off)), dv)
			item:add(f.hraw, tvb(off, math.min(linelen, mpos - off)), hv)
			item:set_text(hn .. ": " .. dv)
			local lname = hn:lower()
			if lname == "event-name" and not name then name = dv end
			if lname == "event-subclass" and not sub then sub = dv end
			if lname == "multicast-sender" then sender = dv end
		else
			item:add_proto_expert_info(ef_line)
		end
		n = n + 1
		off = off + linelen
	end
	hdrs:append_text(" (" .. n .. ")")
	tree:add(f.nheaders, tvb(0, mpos), n)
	if name then tree:add(f.event_name, tvb(0, mpos), name) end
	if sub then tree:add(f.subclass, tvb(0, mpos), sub) end
	if sender then tree:add(f.sender, tvb(0, mpos), sender) end
	tree:add(f.magic, tvb(mpos, MAGIC_LEN))
	local rest = tvb:len() - mpos - MAGIC_LEN
	tree:add(f.tail, tvb(mpos + MAGIC_LEN, rest), rest)
	local info = (name or "?") .. (sub and (" " .. sub) or "") .. (sender and (" from " .. sender) or "")
	pinfo.cols.info = "Event " .. info
end

local function dissect_psk(tvb, pinfo, tree)
	tree:add(f.mode, tvb(0, 0), "PSK (Blowfish-CBC, no MAC)")
	local uuid = tvb:raw(0, 36)
	tree:add(f.uuid, tvb(0, 36), uuid)
	tree:add(f.iv, tvb(0, 8), uuid:sub(1, 8))
	local clen = tvb:len() - UUID_HDR
	tree:add(f.clen_ct, tvb(UUID_HDR, clen), clen)
	tree:add(f.ctext, tvb(UUID_HDR, clen))
	if clen % 8 ~= 0 then tree:add_proto_expert_info(ef_cbc) end
	pinfo.cols.info = "Encrypted event, uuid " .. uuid .. ", " .. clen .. " bytes of ciphertext"
end

-- Returns true when tvb is a legacy datagram (and dissects it).
local function dissect(tvb, pinfo, root)
	local mpos = find_magic(tvb)
	local psk = not mpos and is_uuid_header(tvb)
	if not mpos and not psk then return false end
	pinfo.cols.protocol = "EVCAST-LEGACY"
	local tree = root:add(p, tvb(), "evcast legacy event")
	if tvb:len() <= 256 then tree:add_proto_expert_info(ef_small) end
	if mpos then dissect_plain(tvb, pinfo, tree, mpos) else dissect_psk(tvb, pinfo, tree) end
	return true
end

local function is_v2(tvb)
	return tvb:len() >= 4 and tvb(0, 4):uint() == 0xECA57632
end

function p.dissector(tvb, pinfo, root)
	if is_v2(tvb) then
		local ok, v2 = pcall(Dissector.get, "evcast_v2")
		if ok and v2 then return v2:call(tvb, pinfo, root) end
		pinfo.cols.protocol = "EVCAST-V2"
		pinfo.cols.info = "evcast v2 datagram (load contrib/wireshark/evcast_v2.lua to dissect it)"
		return tvb:len()
	end
	if not dissect(tvb, pinfo, root) then
		pinfo.cols.protocol = "EVCAST-LEGACY"
		pinfo.cols.info = "not a legacy datagram (no MAGIC, no UUID header)"
		root:add(p, tvb(), "evcast legacy: unrecognised datagram")
	end
	return tvb:len()
end

local function heuristic(tvb, pinfo, root)
	if not p.prefs.heuristic or is_v2(tvb) then return false end
	return dissect(tvb, pinfo, root)
end

local registered_port = nil
local function apply_prefs()
	local t = DissectorTable.get("udp.port")
	if registered_port then t:remove(registered_port, p) end
	registered_port = p.prefs.port
	if registered_port ~= 0 then t:add(registered_port, p) end
end
p.prefs_changed = apply_prefs

apply_prefs()
p:register_heuristic("udp", heuristic)
