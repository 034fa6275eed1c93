"""Inside the sandbox: forwards 127.0.0.1:<port> to coda's proxy socket, then runs the command.

    python3 -I -S netbridge.py PORT SOCKET -- COMMAND...

The sandbox has a network namespace of its own with nothing but loopback, so HTTP_PROXY cannot
point at coda directly; it points here, and each connection is carried over the unix socket
that coda bound into the sandbox. The bridge listens before the command starts, then stays as
the command's parent and exits with its status.

It runs before every sandboxed command when domains are allowed, so it starts as a plain
script without site packages and uses the C modules under `socket`, `signal` and
`threading`: those three would add about 12 ms of imports (enum, selectors) to each command.
"""

import _signal  # type: ignore[import-not-found]
import _socket
import _thread
import os
import sys

_CHUNK = 64 * 1024
# Python ignores these for itself (and coda's launcher ignores SIGTERM for the bridge); the
# command must get them back at their defaults.
_RESTORE = ("SIGPIPE", "SIGXFSZ", "SIGTERM")


def _pump(src: _socket.socket, dst: _socket.socket) -> None:
    try:
        while data := src.recv(_CHUNK):
            dst.sendall(data)
        dst.shutdown(_socket.SHUT_WR)
    except OSError:
        for s in (src, dst):
            try:
                s.shutdown(_socket.SHUT_RDWR)
            except OSError:
                continue


def _carry(fd: int, path: str) -> None:
    client = _socket.socket(fileno=fd)
    upstream = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        upstream.connect(path)
    except OSError:
        client.close()
        upstream.close()
        return
    done = _thread.allocate_lock()
    done.acquire()

    def back() -> None:
        _pump(upstream, client)
        done.release()

    _thread.start_new_thread(back, ())
    _pump(client, upstream)
    done.acquire()
    client.close()
    upstream.close()


def _serve(listener: _socket.socket, path: str) -> None:
    while True:
        try:
            # What socket.socket.accept() wraps; the C type has no accept() of its own.
            fd, _ = listener._accept()  # type: ignore[attr-defined]
        except OSError:
            return
        _thread.start_new_thread(_carry, (fd, path))


def main(args: list[str]) -> int:
    if len(args) < 4 or args[2] != "--":
        print("usage: netbridge.py PORT SOCKET -- COMMAND...", file=sys.stderr)
        return 2
    port, path, command = int(args[0]), args[1], args[3:]
    listener = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    listener.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    defaults = [getattr(_signal, name) for name in _RESTORE if hasattr(_signal, name)]
    try:
        pid = os.posix_spawnp(command[0], command, os.environ, setsigdef=defaults)
    except OSError as e:
        print(f"netbridge: cannot run {command[0]}: {e}", file=sys.stderr)
        return 127
    _thread.start_new_thread(_serve, (listener, path))
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    # As a shell reports it: a command killed by signal N ends with 128 + N.
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stderr.flush()
    # No interpreter shutdown: it would only wait on the threads still carrying connections.
    os._exit(code)
