-- evcast_v2.lua -- Wireshark dissector for evcast wire protocol v2 (docs/PROTOCOL.md).
--
-- A 64-byte big-endian header (magic EC A5 76 32, version 2, type DATA /
-- ANNOUNCE / NAK, flags, key id, node id, epoch, seq, timestamp, fragment
-- fields, payload length), then the payload: plaintext when SEALED is clear
-- (DATA: a batch of length-prefixed event texts; ANNOUNCE: last/oldest seq;
-- NAK: target node/epoch and seq ranges), else XChaCha20-Poly1305 ciphertext
-- and tag (shown, not decrypted). Heuristic on UDP (by the magic), and called
-- by evcast_legacy.lua for v2 datagrams on the shared port. Load both files.

local p = Proto("evcast_v2", "evcast wire protocol v2")

local TYPES = {[1] = "DATA", [2] = "ANNOUNCE", [3] = "NAK"}
local HDR = 64

local f = {
	magic = ProtoField.bytes("evcast_v2.magic", "Magic"),
	version = ProtoField.uint8("evcast_v2.version", "Version"),
	type = ProtoField.uint8("evcast_v2.type", "Type", base.DEC, TYPES),
	flags = ProtoField.uint8("evcast_v2.flags", "Flags", base.HEX),
	sealed = ProtoField.bool("evcast_v2.flags.sealed", "SEALED (AEAD)", 8, nil, 0x01),
	reserved = ProtoField.uint8("evcast_v2.reserved", "Reserved"),
	key_id = ProtoField.uint32("evcast_v2.key_id", "Key id"),
	node_id = ProtoField.bytes("evcast_v2.node_id", "Node id"),
	epoch = ProtoField.uint64("evcast_v2.epoch", "Epoch (us since 1970)"),
	seq = ProtoField.uint64("evcast_v2.seq", "Sequence"),
	ts = ProtoField.uint64("evcast_v2.timestamp", "Timestamp (us since 1970)"),
	frag_index = ProtoField.uint16("evcast_v2.frag_index", "Fragment index"),
	frag_count = ProtoField.uint16("evcast_v2.frag_count", "Fragment count"),
	msg_len = ProtoField.uint32("evcast_v2.msg_len", "Message length"),
	payload_len = ProtoField.uint32("evcast_v2.payload_len", "Payload length"),
	ciphertext = ProtoField.bytes("evcast_v2.ciphertext", "Ciphertext"),
	tag = ProtoField.bytes("evcast_v2.tag", "Poly1305 tag"),
	record = ProtoField.string("evcast_v2.record", "Event"),
	record_len = ProtoField.uint32("evcast_v2.record.len", "Length"),
	header = ProtoField.string("evcast_v2.header", "Header"),
	fragment = ProtoField.bytes("evcast_v2.fragment", "Fragment data"),
	last_seq = ProtoField.uint64("evcast_v2.announce.last_seq", "Last seq sent"),
	oldest_seq = ProtoField.uint64("evcast_v2.announce.oldest_seq", "Oldest seq retransmittable"),
	target_node = ProtoField.bytes("evcast_v2.nak.target_node", "Target node id"),
	target_epoch = ProtoField.uint64("evcast_v2.nak.target_epoch", "Target epoch"),
	nranges = ProtoField.uint16("evcast_v2.nak.nranges", "Ranges"),
	range_first = ProtoField.uint64("evcast_v2.nak.first", "First seq"),
	range_count = ProtoField.uint32("evcast_v2.nak.count", "Count"),
}
p.fields = f

local ef_len = ProtoExpert.new("evcast_v2.length", "payload_len does not match the datagram length",
	expert.group.MALFORMED, expert.severity.ERROR)
local ef_batch = ProtoExpert.new("evcast_v2.batch", "Malformed batch (records do not fill the message)",
	expert.group.MALFORMED, expert.severity.ERROR)
p.experts = {ef_len, ef_batch}

local function is_v2(tvb)
	return tvb:len() >= 4 and tvb(0, 4):uint() == 0xECA57632
end

local function url_decode(s)
	return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function dissect_batch(tvb, off, len, tree)
	local stop, n, names = off + len, 0, {}
	while off + 4 <= stop do
		local rl = tvb(off, 4):uint()
		if rl < 1 or off + 4 + rl > stop then break end
		local text = tvb:raw(off + 4, rl)
		local name = text:match("Event%-Name: ([^\n]*)") or "?"
		local sub = text:match("Event%-Subclass: ([^\n]*)")
		local label = url_decode(name) .. (sub and (" " .. url_decode(sub)) or "")
		local rt = tree:add(f.record, tvb(off, 4 + rl), label)
		rt:add(f.record_len, tvb(off, 4))
		local lo = off + 4
		for line in text:gmatch("([^\n]*)\n") do
			if line == "" then break end
			local hn, hv = line:match("^([^:]+): (.*)$")
			rt:add(f.header, tvb(lo, #line), hn and (hn .. ": " .. url_decode(hv)) or line)
			lo = lo + #line + 1
		end
		names[#names + 1] = label
		n = n + 1
		off = off + 4 + rl
	end
	if off ~= stop then tree:add_proto_expert_info(ef_batch) end
	return n, names
end

local function dissect(tvb, pinfo, root)
	if not is_v2(tvb) then return false end
	pinfo.cols.protocol = "EVCAST-V2"
	local tree = root:add(p, tvb(), "evcast v2")
	if tvb:len() < HDR then
		pinfo.cols.info = "v2 datagram shorter than its 64-byte header"
		tree:add_proto_expert_info(ef_len)
		return true
	end
	local ty, flags = tvb(5, 1):uint(), tvb(6, 1):uint()
	local sealed = flags % 2 == 1
	local h = tree:add(p, tvb(0, HDR), "Header")
	h:add(f.magic, tvb(0, 4))
	h:add(f.version, tvb(4, 1))
	h:add(f.type, tvb(5, 1))
	local ft = h:add(f.flags, tvb(6, 1))
	ft:add(f.sealed, tvb(6, 1))
	h:add(f.reserved, tvb(7, 1))
	h:add(f.key_id, tvb(8, 4))
	h:add(f.node_id, tvb(12, 16))
	h:add(f.epoch, tvb(28, 8))
	h:add(f.seq, tvb(36, 8))
	h:add(f.ts, tvb(44, 8))
	h:add(f.frag_index, tvb(52, 2))
	h:add(f.frag_count, tvb(54, 2))
	h:add(f.msg_len, tvb(56, 4))
	local plen = tvb(60, 4):uint()
	local pl = h:add(f.payload_len, tvb(60, 4))
	if plen ~= tvb:len() - HDR then pl:add_proto_expert_info(ef_len) end
	plen = math.min(plen, tvb:len() - HDR)
	local tname = TYPES[ty] or ("type " .. ty)
	local info = tname .. " seq " .. tostring(tvb(36, 8):uint64())
	if sealed then
		if plen >= 16 then
			tree:add(f.ciphertext, tvb(HDR, plen - 16))
			tree:add(f.tag, tvb(HDR + plen - 16, 16))
		end
		info = info .. ", sealed (key " .. tvb(8, 4):uint() .. "), " .. plen .. " bytes"
	elseif ty == 1 then
		local fc, fi = tvb(54, 2):uint(), tvb(52, 2):uint()
		if fc > 1 then
			tree:add(f.fragment, tvb(HDR, plen))
			info = info .. ", fragment " .. (fi + 1) .. "/" .. fc
		else
			local n, names = dissect_batch(tvb, HDR, plen, tree)
			info = info .. ", " .. n .. " event(s): " .. table.concat(names, ", ", 1, math.min(#names, 4)) ..
				(#names > 4 and ", ..." or "")
		end
	elseif ty == 2 and plen >= 16 then
		tree:add(f.last_seq, tvb(HDR, 8))
		tree:add(f.oldest_seq, tvb(HDR + 8, 8))
		info = info .. ", last " .. tostring(tvb(HDR, 8):uint64())
	elseif ty == 3 and plen >= 28 then
		tree:add(f.target_node, tvb(HDR, 16))
		tree:add(f.target_epoch, tvb(HDR + 16, 8))
		local nr = tvb(HDR + 24, 2):uint()
		tree:add(f.nranges, tvb(HDR + 24, 2))
		for i = 0, nr - 1 do
			local o = HDR + 28 + 12 * i
			if o + 12 > HDR + plen then break end
			local r = tree:add(p, tvb(o, 12), "Range")
			r:add(f.range_first, tvb(o, 8))
			r:add(f.range_count, tvb(o + 8, 4))
		end
		info = info .. ", " .. nr .. " range(s)"
	end
	pinfo.cols.info = info
	return true
end

function p.dissector(tvb, pinfo, root)
	dissect(tvb, pinfo, root)
	return tvb:len()
end

p:register_heuristic("udp", function(tvb, pinfo, root) return dissect(tvb, pinfo, root) end)
