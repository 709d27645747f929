#!/usr/bin/env python3
"""fake_freeswitch.py -- a FreeSWITCH event socket (mod_event_socket) stand-in for tests.

Behaves as FreeSWITCH does for what evcastd's sidecar uses: auth/request then
`auth PASSWORD` (+OK accepted, or -ERR invalid and a disconnect notice),
`event plain EVENTS...` (subscription: names, ALL, CUSTOM subclasses), `sendevent
NAME` + headers (+ Content-Length body) -> +OK <uuid>, and the event is delivered
to every subscribed connection as text/event-plain (so an injected event comes
back, as on a real switch), `api db insert/REALM/KEY/VALUE`, `api db
delete/REALM/KEY`, `api db select/REALM/KEY` (mod_db), `exit`.
Records every command as one JSON line in --log, keeps the db in --db (JSON).
The password is re-read from --password-file at each connection. A control port
(--control-port) takes a plain-text event (Name: value lines) and fires it as if
it happened on the switch (the test's SIP side). Listens on 127.0.0.1 only.
"""
import argparse
import asyncio
import json
import sys
import time
import urllib.parse
import uuid

ARGS = None
CLIENTS = set()
DB = {}


def log(rec):
    rec["t"] = time.time()
    with open(ARGS.log, "a") as f:
        f.write(json.dumps(rec) + "\n")


def save_db():
    with open(ARGS.db + ".tmp", "w") as f:
        json.dump(DB, f)
    import os
    os.replace(ARGS.db + ".tmp", ARGS.db)


def plain(headers, body=None):
    out = "".join("%s: %s\n" % (k, urllib.parse.quote(v, safe="")) for k, v in headers)
    if body:
        out += "Content-Length: %d\n\n%s" % (len(body.encode()), body)
    else:
        out += "\n"
    return out


def matches(sub, headers):
    h = dict((k.lower(), v) for k, v in headers)
    name = h.get("event-name", "")
    if "ALL" in sub["names"]:
        return True
    if name == "CUSTOM":
        return h.get("event-subclass", "") in sub["subclasses"] or "CUSTOM" in sub["names"] and not sub["subclasses"]
    return name in sub["names"]


async def deliver(headers, body=None):
    text = plain(headers, body).encode()
    for c in list(CLIENTS):
        if c.sub and matches(c.sub, headers):
            c.w.write(b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(text) + text)
            await c.w.drain()


class Client:
    def __init__(self, w):
        self.w = w
        self.sub = None
        self.authed = False

    async def reply(self, text):
        self.w.write(("Content-Type: command/reply\nReply-Text: %s\n\n" % text).encode())
        await self.w.drain()

    async def api(self, text):
        b = text.encode()
        self.w.write(b"Content-Type: api/response\nContent-Length: %d\n\n" % len(b) + b)
        await self.w.drain()


def std_headers(name):
    us = int(time.time() * 1e6)
    return [("Event-Name", name), ("Core-UUID", "fake-fs-core"), ("FreeSWITCH-Hostname", "fake-fs"),
            ("FreeSWITCH-Switchname", "fake-fs"), ("FreeSWITCH-IPv4", ARGS.ipv4),
            ("Event-Date-Timestamp", str(us)), ("Event-Calling-File", "fake_freeswitch.py")]


async def read_block(r):
    """One command block: lines up to a blank line, then Content-Length bytes."""
    lines = []
    while True:
        line = await r.readline()
        if not line:
            return None, None
        line = line.decode().rstrip("\r\n")
        if line == "":
            if lines:
                break
            continue
        lines.append(line)
    body = None
    for l in lines[1:]:
        if l.lower().startswith("content-length:"):
            body = (await r.readexactly(int(l.split(":", 1)[1]))).decode()
    return lines, body


async def handle(r, w):
    c = Client(w)
    CLIENTS.add(c)
    try:
        w.write(b"Content-Type: auth/request\n\n")
        await w.drain()
        while True:
            lines, body = await read_block(r)
            if lines is None:
                break
            cmd = lines[0]
            if cmd.startswith("auth "):
                with open(ARGS.password_file) as f:
                    pw = f.read().strip()
                ok = cmd[5:] == pw
                log({"cmd": "auth", "ok": ok})
                if not ok:
                    await c.reply("-ERR invalid")
                    w.write(b"Content-Type: text/disconnect-notice\nContent-Length: 0\n\n")
                    await w.drain()
                    break
                c.authed = True
                await c.reply("+OK accepted")
            elif not c.authed:
                await c.reply("-ERR command not found")
            elif cmd.startswith("event plain"):
                words = cmd.split()[2:]
                sub = {"names": set(), "subclasses": set()}
                custom = False
                for x in words:
                    if custom:
                        sub["subclasses"].add(x)
                    elif x == "CUSTOM":
                        custom = True
                        sub["names"].add(x)
                    else:
                        sub["names"].add(x)
                c.sub = sub
                log({"cmd": "event", "events": words})
                await c.reply("+OK event listener enabled plain")
            elif cmd.startswith("sendevent "):
                name = cmd.split(None, 1)[1]
                headers = [tuple(x.split(": ", 1)) for x in lines[1:] if not x.lower().startswith("content-length:")]
                log({"cmd": "sendevent", "name": name, "headers": dict(headers), "body": body})
                await c.reply("+OK " + str(uuid.uuid4()))
                hdrs = [h for h in std_headers(name) if h[0] != "Event-Name"]
                await deliver([("Event-Name", name)] + headers + hdrs, body)
            elif cmd.startswith("api "):
                arg = cmd[4:]
                log({"cmd": "api", "arg": arg})
                if arg.startswith("db "):
                    parts = arg[3:].split("/")
                    if parts[0] == "insert" and len(parts) == 4:
                        DB["%s/%s" % (parts[1], parts[2])] = parts[3]
                        save_db()
                        await c.api("+OK")
                    elif parts[0] == "delete" and len(parts) == 3:
                        DB.pop("%s/%s" % (parts[1], parts[2]), None)
                        save_db()
                        await c.api("+OK")
                    elif parts[0] == "select" and len(parts) == 3:
                        await c.api(DB.get("%s/%s" % (parts[1], parts[2]), ""))
                    else:
                        await c.api("-USAGE: db [insert|delete|select]/<realm>/<key>/<val>")
                else:
                    await c.api("-ERR %s Command not found!\n" % arg.split()[0])
            elif cmd == "exit":
                await c.reply("+OK bye")
                break
            else:
                await c.reply("-ERR command not found")
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        CLIENTS.discard(c)
        w.close()


async def control(r, w):
    data = (await r.read()).decode()
    w.close()
    headers = []
    for line in data.splitlines():
        if ": " in line:
            k, v = line.split(": ", 1)
            headers.append((k, v))
    name = dict(headers).get("Event-Name", "CUSTOM")
    headers = std_headers(name) + [h for h in headers if h[0] != "Event-Name"]
    log({"cmd": "emit", "headers": dict(headers)})
    await deliver(headers)


async def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=8021)
    p.add_argument("--control-port", type=int, default=8022)
    p.add_argument("--password-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--ipv4", default="127.0.0.1")
    ARGS = p.parse_args()
    save_db()
    s1 = await asyncio.start_server(handle, "127.0.0.1", ARGS.port)
    s2 = await asyncio.start_server(control, "127.0.0.1", ARGS.control_port)
    print("fake freeswitch listening", flush=True)
    async with s1, s2:
        await asyncio.gather(s1.serve_forever(), s2.serve_forever())


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
