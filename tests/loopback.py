"""Loopback HTTP servers for the tests: a static file server and a small Hugging Face Hub.

The Hub speaks the endpoints the real ``huggingface_hub`` client calls (revision info, recursive
tree listing, HEAD/GET of ``resolve``) for one dataset repository, :data:`HUB_REPO`, whose history
a test can change: :meth:`LoopbackHub.push` adds a commit (the old ones stay reachable) and
:meth:`LoopbackHub.rewrite` replaces the history, as a force push does. The client is pointed at
it through ``HF_ENDPOINT`` (the ``hub`` fixture in tests/conftest.py), so nothing needs the internet.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

HUB_REPO = "semmol-tests/datasets"
#: The commit the Hub's history starts from.
HUB_COMMIT = "3f1c8a0d9e2b4c6f8a0b1c2d3e4f5a6b7c8d9e0f"
HUB_FILES = {
    "README.md": b"# Test datasets\n",
    "data/zinc_250k.csv": b"smiles,logP\nCCO,-0.1\nc1ccccc1,1.7\nCC(=O)O,0.1\nCCN,-0.2\n",
    "other/bbbp.csv": b"num,name,p_np,smiles\n1,a,1,CCO\n2,b,0,CCN\n",
}


@contextlib.contextmanager
def serve(server: ThreadingHTTPServer) -> Iterator[str]:
    """Run ``server`` in a thread inside the ``with`` block; yields its base URL."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class QuietFileHandler(SimpleHTTPRequestHandler):
    """Serves a directory without logging each request."""

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class LoopbackHub(ThreadingHTTPServer):
    """A Hub on 127.0.0.1 holding :data:`HUB_REPO`, starting at :data:`HUB_COMMIT` with :data:`HUB_FILES`.

    Attributes:
        requests: every request received, as ``"METHOD /path"``.
        history: commit -> the repository's files at that commit.
        head: the commit ``main`` points at.
    """

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HubHandler)
        self.requests: list[str] = []
        self.history: dict[str, dict[str, bytes]] = {HUB_COMMIT: dict(HUB_FILES)}
        self.head = HUB_COMMIT

    def push(self, files: dict[str, bytes]) -> str:
        """A new commit on ``main`` holding ``files`` (changed or added; the others kept); returns its id."""
        tree = {**self.history[self.head], **files}
        listing = json.dumps({path: git_blob_id(data) for path, data in sorted(tree.items())})
        commit = hashlib.sha1(f"{self.head}\n{listing}".encode()).hexdigest()
        self.history[commit] = tree
        self.head = commit
        return commit

    def rewrite(self, files: dict[str, bytes]) -> str:
        """Replace the whole history by one new commit holding ``files`` (a force push); returns its id."""
        commit = self.push(files)
        self.history = {commit: self.history[commit]}
        return commit


class _HubHandler(BaseHTTPRequestHandler):
    """The Hub endpoints huggingface_hub uses to resolve a revision, list files and download one."""

    server: LoopbackHub
    _ROUTES = [
        ("info", re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/]+)/revision/(?P<rev>[^/]+)$")),
        ("tree", re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)$")),
        ("file", re.compile(r"^/datasets/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")),
    ]

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _answer(self, *, send_body: bool) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        route = urlsplit(self.path).path
        for kind, pattern in self._ROUTES:
            if match := pattern.match(route):
                break
        else:
            return self._send(404, b"{}", send_body=send_body)
        if unquote(match["repo"]) != HUB_REPO:
            return self._send(404, b"{}", {"X-Error-Code": "RepoNotFound"}, send_body=send_body)
        revision = unquote(match["rev"])
        commit = self.server.head if revision == "main" else revision
        files = self.server.history.get(commit)
        if files is None:
            return self._send(404, b"{}", {"X-Error-Code": "RevisionNotFound"}, send_body=send_body)
        if kind == "info":
            siblings = [{"rfilename": path} for path in files]
            info = {"id": HUB_REPO, "sha": commit, "siblings": siblings}
            return self._send(200, json.dumps(info).encode(), send_body=send_body)
        if kind == "tree":
            folders = sorted({path.rsplit("/", 1)[0] for path in files if "/" in path})
            entries = [{"type": "directory", "oid": git_blob_id(f.encode()), "path": f} for f in folders] + [
                {"type": "file", "oid": git_blob_id(data), "size": len(data), "path": path}
                for path, data in files.items()
            ]
            return self._send(200, json.dumps(entries).encode(), send_body=send_body)
        data = files.get(unquote(match["path"]))
        if data is None:
            headers = {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit}
            return self._send(404, b"{}", headers, send_body=send_body)
        headers = {"X-Repo-Commit": commit, "ETag": f'"{git_blob_id(data)}"'}
        return self._send(200, data, headers, content_type="application/octet-stream", send_body=send_body)

    def _send(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        *,
        content_type: str = "application/json",
        send_body: bool,
    ) -> None:
        self.send_response(status)
        every_header = {"Content-Type": content_type, "Content-Length": str(len(body)), **(headers or {})}
        for key, value in every_header.items():
            self.send_header(key, value)
        self.end_headers()
        if send_body:
            self.wfile.write(body)
