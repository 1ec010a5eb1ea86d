"""Helpers for bench/reliability.sh (127.0.0.1 only).

  broken PORT MODE     a target answering every connection with garbage (MODE=garbage) or
                       resetting it (MODE=reset); prints the connections accepted on SIGTERM
  idle PORT N SECONDS  opens N idle TCP connections to 127.0.0.1:PORT, holds them SECONDS
"""
import signal
import socket
import struct
import sys
import threading
import time


def broken(port, mode):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(512)
    count = [0]

    def done(*_):
        print(count[0], flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, done)

    def serve(c):
        try:
            c.settimeout(2)
            c.recv(4096)
            if mode == "garbage":
                c.sendall(b"garbage\r\n\r\n")
            else:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        finally:
            c.close()

    while True:
        c, _ = srv.accept()
        count[0] += 1
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def idle(port, n, seconds):
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        conns.append(s)
    print(f"{len(conns)} idle connections open", flush=True)
    time.sleep(seconds)


if __name__ == "__main__":
    if sys.argv[1] == "broken":
        broken(int(sys.argv[2]), sys.argv[3])
    else:
        idle(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
