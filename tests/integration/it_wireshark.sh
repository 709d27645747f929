#!/usr/bin/env bash
# it_wireshark.sh -- the Wireshark dissectors in contrib/wireshark/ against the wire vectors.
#
# Builds a pcap (raw IPv4/UDP, no network traffic) from every legacy vector,
# every FreeSWITCH capture and the v2 test vector of docs/PROTOCOL.md, half on
# port 4242 (the port table) and half on 5555 (the heuristic), and runs tshark
# with both Lua dissectors. Checks per plaintext datagram: header names in
# order, values (decoded by the dissector when printable, else the on-the-wire
# value decoded here), body bytes, MAGIC and tail; per PSK datagram: the UUID
# and ciphertext length; the v2 datagrams: type, seq, sealed flag, the event of
# the plaintext batch. Needs tshark (SKIP without it).
source "$(dirname "$0")/lib.sh"
command -v tshark >/dev/null || evc_skip "tshark is not installed (apt-get install tshark)"
DIS="$EVCAST_SOURCE_DIR/contrib/wireshark"

evc_step "pcap from the vectors"
python3 - "$EVC_TMP/v.pcap" "$EVC_TMP/list.json" "$EVCAST_VECTORS" <<'EOF'
import glob, json, os, struct, sys
out, listf, vec = sys.argv[1], sys.argv[2], sys.argv[3]
v2 = {  # docs/PROTOCOL.md appendix A
    "v2_sealed": "eca576320201010000000007a0a1a2a3a4a5a6a7a8a9aaabacadaeaf000647484620400000000000000000010006474846241090000000010000003900000049"
                 "30802df36f299c62829bf6be6563f99c605ad580d5ce155c6df782f3f0449cc1aaaca98e8237d0db754ac7d99fe3247697611c3825f9a7ae2b7d9f7345e89fa5d97767241e527afcf6",
    "v2_plain": "eca576320201000000000000a0a1a2a3a4a5a6a7a8a9aaabacadaeaf000647484620400000000000000000010006474846241090000000010000003900000039"
                "000000354576656e742d4e616d653a20435553544f4d0a4576656e742d537562636c6173733a2074657374253341253341766563746f720a0a",
}
items = []
for path in sorted(glob.glob(vec + "/legacy/*.bin") + glob.glob(vec + "/freeswitch/*.bin")):
    meta = json.load(open(path[:-4] + ".json"))
    items.append({"name": os.path.basename(path)[:-4], "data": open(path, "rb").read().hex(), "meta": meta})
for name, hx in v2.items():
    items.append({"name": name, "data": hx, "meta": {}})
f = open(out, "wb")
f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101))
for i, it in enumerate(items):
    data = bytes.fromhex(it["data"])
    it["port"] = 4242 if i % 2 == 0 else 5555
    udp = struct.pack("!HHHH", 40000, it["port"], 8 + len(data), 0) + data
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 1, 17, 0, bytes([127, 0, 0, 1]), bytes([239, 255, 42, 42]))
    f.write(struct.pack("<IIII", 1700000000 + i, 0, len(ip + udp), len(ip + udp)) + ip + udp)
json.dump(items, open(listf, "w"))
print(len(items), "datagrams")
EOF

evc_step "tshark with both dissectors"
(cd "$EVC_TMP" && tshark -r v.pcap -X "lua_script:$DIS/evcast_legacy.lua" -X "lua_script:$DIS/evcast_v2.lua" -T pdml \
	>"$EVC_TMP/v.pdml" 2>"$EVC_TMP/tshark.err") || evc_fail "tshark failed: $(cat "$EVC_TMP/tshark.err")"
grep -qi "lua.*error" "$EVC_TMP/tshark.err" && evc_fail "Lua error: $(cat "$EVC_TMP/tshark.err")"

evc_step "every datagram dissected as its vector says"
python3 - "$EVC_TMP/v.pdml" "$EVC_TMP/list.json" <<'EOF' || evc_fail "dissector output does not match the vectors (above)"
import json, re, sys, urllib.parse
import xml.etree.ElementTree as ET
items = json.load(open(sys.argv[2]))
packets = ET.parse(sys.argv[1]).getroot().findall("packet")
assert len(packets) == len(items), (len(packets), len(items))
def url_decode(s):
    return re.sub(rb"%([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]), s)
bad = 0
def check(cond, msg):
    global bad
    if not cond:
        bad += 1
        print("FAIL", msg)
for pkt, it in zip(packets, items):
    name, meta = it["name"], it["meta"]
    fields = [f for f in pkt.iter("field")]
    get = lambda n: [f for f in fields if f.get("name") == n]
    if name.startswith("v2_"):
        check(get("evcast_v2.type") and get("evcast_v2.type")[0].get("show") == "1", name + ": type")
        check(get("evcast_v2.seq")[0].get("show") == "1", name + ": seq")
        sealed = get("evcast_v2.flags.sealed")[0].get("show")
        check(sealed == ("1" if name == "v2_sealed" else "0"), name + ": sealed flag " + sealed)
        if name == "v2_plain":
            hs = [f.get("show") for f in get("evcast_v2.header")]
            check(hs == ["Event-Name: CUSTOM", "Event-Subclass: test::vector"], name + ": batch headers %r" % hs)
        else:
            check(len(get("evcast_v2.tag")) == 1, name + ": tag")
        continue
    mode = get("evcast_legacy.mode")
    check(len(mode) == 1, name + ": not dissected as legacy (port %d)" % it["port"])
    if not mode:
        continue
    data = bytes.fromhex(it["data"])
    if "decoded_headers" not in meta or data[:36].count(b"-") == 4 and data[36:256] == bytes(220):
        check(mode[0].get("show").startswith("PSK"), name + ": mode " + mode[0].get("show"))
        uuid = get("evcast_legacy.uuid")[0].get("show")
        check(uuid == data[:36].decode(), name + ": uuid " + uuid)
        check(int(get("evcast_legacy.ciphertext_len")[0].get("show")) == len(data) - 256, name + ": ciphertext length")
        continue
    check(mode[0].get("show") == "plaintext", name + ": mode")
    names = [f.get("show") for f in get("evcast_legacy.header.name")]
    want = meta["decoded_headers"]
    check(names == [h[0] for h in want], name + ": names %r" % names)
    vals, raws = get("evcast_legacy.header.value"), get("evcast_legacy.header.raw")
    for i, (hn, hv) in enumerate(want):
        if i >= len(vals):
            break
        if hv.isprintable() and hv.isascii():
            check(vals[i].get("show") == hv, "%s: %s = %r, want %r" % (name, hn, vals[i].get("show"), hv))
        else:  # Wireshark escapes control bytes in "show": decode the wire value here
            raw = raws[i].get("show").encode()
            check(url_decode(raw).decode("utf-8", "replace") == hv, "%s: raw %s" % (name, hn))
    body = get("evcast_legacy.body")
    if meta.get("decoded_body") is None:
        check(not body, name + ": unexpected body")
    else:
        check(body and bytes.fromhex(body[0].get("value")).decode() == meta["decoded_body"], name + ": body")
    check(len(get("evcast_legacy.magic")) == 1, name + ": MAGIC")
print("checked", len(items), "datagrams,", bad, "mismatches")
sys.exit(1 if bad else 0)
EOF
evc_ok "legacy plaintext, legacy PSK and v2 datagrams match their vectors"
