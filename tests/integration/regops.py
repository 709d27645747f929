#!/usr/bin/env python3
"""regops.py -- bulk sofia::register / sofia::unregister through a daemon's
control socket (one event-socket connection, every sendevent answered +OK
before the next), for the registration integration tests.

usage: regops.py SOCKET [--status] [--pad N] OP...
  OP = reg:FIRST-LAST | unreg:FIRST-LAST | mix:FIRST-LAST
       (mix: register each user, and unregister again every fourth)
  --status   add "status: Registered(UDP)" to registrations
  --pad N    make contact and user-agent N bytes longer (to fill a disk)
  --kill9-after PID   SIGKILL PID as soon as the last +OK came, and print the
             ms from the first sendevent to the kill (the durability of +OK)
Users are from-user N@example.test, call-id c-N, contact <sip:N@10.250.0.99>,
expires 600. Exit 1 (with the reply) when the daemon refuses an event.
"""
import os
import signal
import socket
import sys
import time


def main(argv):
    path, args = argv[1], argv[2:]
    status, pad, ops, kill_pid = False, 0, [], 0
    while args:
        a = args.pop(0)
        if a == "--status":
            status = True
        elif a == "--pad":
            pad = int(args.pop(0))
        elif a == "--kill9-after":
            kill_pid = int(args.pop(0))
        else:
            ops.append(a)
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    f = s.makefile("rb")

    def msg():
        hdr = {}
        while True:
            line = f.readline().decode().rstrip("\n")
            if not line:
                if hdr:
                    break
                continue
            k, v = line.split(": ", 1)
            hdr[k] = v
        if "Content-Length" in hdr:
            f.read(int(hdr["Content-Length"]))
        return hdr

    def send(typ, u):
        ev = ("sendevent CUSTOM\nEvent-Subclass: sofia::%s\nprofile-name: internal\nfrom-user: %d\n"
              "from-host: example.test\ncall-id: c-%d\n" % (typ, u, u))
        if typ == "register":
            ev += "contact: <sip:%d@10.250.0.99%s>\nexpires: 600\n" % (u, ";x=" + "a" * pad if pad else "")
            if status:
                ev += "status: Registered(UDP)\n"
            if pad:
                ev += "user-agent: filler %s\n" % ("u" * pad)
        s.sendall((ev + "\n").encode())
        r = msg()
        if not r.get("Reply-Text", "").startswith("+OK"):
            sys.exit("sendevent refused: %r" % r)

    if msg().get("Content-Type") == "auth/request":
        s.sendall(b"auth ClueCon\n\n")
        msg()
    t0 = time.monotonic()
    for op in ops:
        kind, rng = op.split(":")
        lo, hi = (int(x) for x in rng.split("-"))
        for u in range(lo, hi + 1):
            send("unregister" if kind == "unreg" else "register", u)
            if kind == "mix" and u % 4 == 0:
                send("unregister", u)
    if kill_pid:
        os.kill(kill_pid, signal.SIGKILL)
        print("%d" % ((time.monotonic() - t0) * 1000))
        return
    s.sendall(b"exit\n\n")


if __name__ == "__main__":
    main(sys.argv)
