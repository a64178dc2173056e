"""The floor for bench/scale.py: a bare asyncio client holding one IDLE session per mailbox.

Nothing but what any IDLE client must do: TLS, LOGIN, SELECT INBOX, IDLE, and read what the
server pushes, noting the moment (wall clock, comparable across processes) each new message
is announced by ``EXISTS``. It runs as a process of its own so that its memory and CPU are
measured the same way as a ``tidings worker``'s.

    python bench/idle_floor.py PORT CA_FILE|- USERS_FILE OUT_FILE

USERS_FILE holds ``address password`` lines. Once every session is idling it prints
``ready``; on SIGTERM it writes ``{"arrivals": {address: [time, …]}, "keepalives": n}`` to
OUT_FILE and exits.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import ssl
import sys
import time
from pathlib import Path

_EXISTS = re.compile(rb"^\* (\d+) EXISTS")
#: Logins at once: Dovecot's login processes take them faster than one by one.
_LOGINS_AT_ONCE = 50


async def _command(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, tag: bytes, line: bytes
) -> list[bytes]:
    writer.write(tag + b" " + line + b"\r\n")
    answer = []
    while True:
        got = await reader.readline()
        if not got:
            raise ConnectionError("the server closed the connection")
        if got.startswith(tag + b" "):
            if not got.startswith(tag + b" OK"):
                raise RuntimeError(got.decode(errors="replace"))
            return answer
        answer.append(got)


class Floor:
    def __init__(self, port: int, ca_file: str) -> None:
        self.port = port
        # "-": plain IMAP.
        self.context = None if ca_file == "-" else ssl.create_default_context(cafile=ca_file)
        self.arrivals: dict[str, list[float]] = {}
        self.keepalives = 0
        self.idling = 0
        self.logins = asyncio.Semaphore(_LOGINS_AT_ONCE)

    async def hold(self, address: str, password: str) -> None:
        async with self.logins:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", self.port, ssl=self.context, limit=1 << 20
            )
            await reader.readline()  # the greeting
            await _command(reader, writer, b"a", f'LOGIN "{address}" "{password}"'.encode())
            exists = 0
            for line in await _command(reader, writer, b"b", b"SELECT INBOX"):
                if match := _EXISTS.match(line):
                    exists = int(match.group(1))
            writer.write(b"c IDLE\r\n")
            if not (await reader.readline()).startswith(b"+"):
                raise RuntimeError(f"{address}: IDLE refused")
        self.idling += 1
        seen = self.arrivals.setdefault(address, [])
        while line := await reader.readline():
            if match := _EXISTS.match(line):
                now = time.time()
                total = int(match.group(1))
                seen.extend([now] * max(0, total - exists))
                exists = max(exists, total)
            elif line.startswith(b"* OK"):
                self.keepalives += 1


async def main(port: int, ca_file: str, users_file: Path, out_file: Path) -> None:
    users = [line.split() for line in users_file.read_text().splitlines() if line.strip()]
    floor = Floor(port, ca_file)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    tasks = [asyncio.create_task(floor.hold(address, password)) for address, password in users]
    while floor.idling < len(users):
        failed = [t for t in tasks if t.done() and t.exception() is not None]
        if failed:
            raise RuntimeError(f"a session failed: {failed[0].exception()}")
        await asyncio.sleep(0.05)
    print("ready", flush=True)
    await stop.wait()
    out_file.write_text(json.dumps({"arrivals": floor.arrivals, "keepalives": floor.keepalives}))
    for task in tasks:
        task.cancel()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])))
