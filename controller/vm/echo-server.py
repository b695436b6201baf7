"""A TCP echo server for the IPVS VM scenario: one thread, any number of connections.
usage: echo-server.py ADDRESS PORT"""
import selectors
import socket
import sys

listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind((sys.argv[1], int(sys.argv[2])))
listener.listen(4096)
listener.setblocking(False)
sel = selectors.DefaultSelector()
sel.register(listener, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        if key.fileobj is listener:
            conn, _ = listener.accept()
            conn.setblocking(False)
            sel.register(conn, selectors.EVENT_READ)
            continue
        conn = key.fileobj
        try:
            data = conn.recv(65536)
            if data:
                conn.sendall(data)  # a few bytes: the socket buffer takes them at once
                continue
        except OSError:
            pass  # reset by the peer (the probes end with RST)
        sel.unregister(conn)
        conn.close()
