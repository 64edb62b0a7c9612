"""Downloads against a local HTTP server (127.0.0.1, ephemeral port, shut down by the fixture).

The server supports ``Range`` and can be told, per path, to cut a transfer half way, answer
404, serve wrong bytes, or send slowly (to make two downloads overlap).
"""
from __future__ import annotations

import hashlib
import http.server
import io
import multiprocessing
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from torch import nn

from pgg_zoo.cards import (
    DownloadError,
    HashMismatchError,
    OfflineError,
    UnverifiedWeightsError,
    WeightsMismatchError,
    card_build_overrides,
    download_weights,
    fetch,
    load_card,
    load_weights,
)
from pgg_zoo.cards.cache import apply_mirror, cached_weights_path, weights_cache_dir


# ---------------------------------------------------------------------------------------------
# The test server
class _Handler(http.server.BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        srv = self.server
        rng = self.headers.get("Range")
        with srv.lock:
            srv.log.append((self.path, rng))
            mode = srv.modes.get(self.path, "ok")
            if mode == "cut_once":
                srv.modes[self.path] = "ok"
                mode = "cut"
        body = srv.files.get(self.path)
        if mode == "404" or body is None:
            self.send_error(404, "Not Found")
            return
        if mode == "wrong":
            body = bytes(b ^ 0xFF for b in body)
        start = 0
        if rng and rng.startswith("bytes=") and srv.ranges:
            start = int(rng[6:].split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if mode == "cut":
            # Promise the whole body, send half, then drop the connection.
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if mode == "slow":
            step = max(1, len(payload) // 10)
            for i in range(0, len(payload), step):
                self.wfile.write(payload[i : i + step])
                self.wfile.flush()
                time.sleep(0.05)
            return
        self.wfile.write(payload)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.modes: dict[str, str] = {}
        self.log: list[tuple[str, str | None]] = []
        self.ranges = True
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def gets(self, path: str) -> list[str | None]:
        """Range headers of the GETs of ``path`` so far."""
        return [r for p, r in self.log if p == path]


@pytest.fixture
def server():
    srv = _Server()
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(timeout=5)


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    """A private cache and card folder; no offline/mirror/proxy settings leak in."""
    for var in ("PGG_ZOO_OFFLINE", "PGG_ZOO_MIRROR", "PGG_ZOO_HOME", "http_proxy", "https_proxy",
                "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PGG_ZOO_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cards").mkdir()
    monkeypatch.setenv("PGG_ZOO_CARD_PATH", str(tmp_path / "cards"))


# ---------------------------------------------------------------------------------------------
# Helpers
def _weights_bytes(out_features: int = 3) -> bytes:
    from safetensors.torch import save

    torch.manual_seed(0)
    m = nn.Linear(64, out_features)
    return save({k: v.contiguous() for k, v in m.state_dict().items()})


PAYLOAD = _weights_bytes()
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def _card(tmp_path: Path, name: str, url: str, *, sha256: str | None = SHA, **weights: Any) -> str:
    """Write a minimal valid card into the test card folder; return its name."""
    data = {
        "name": name,
        "task": "classification",
        "origin": "pgg_zoo",
        "modality": "image",
        "backbone": "linear",
        "synthesizer": "cutmix",
        "guidance": {"alpha": 0.05, "mode": "exact", "mask": "provenance"},
        "training_data": ["toy"],
        "metrics": {"toy": {"acc@1[test]": 50.0}},
        "input": {"size": [8, 8], "mean": [0.5], "std": [0.25]},
        "num_classes": 3,
        "categories": ["a", "b", "c"],
        "num_params": 195,
        "file_size_mb": round(len(PAYLOAD) / 2**20, 4),
        "weights": {"url": url, "sha256": sha256, "hash_verified": sha256 is not None,
                    "format": "safetensors", **weights},
        "license": "Apache-2.0",
        "recipe": "pgg-zoo train classification --backbone linear",
        "citation": "none",
    }
    if sha256 is None:
        data["origin"] = "upstream"
        data["recipe"] = "upstream"
    folder = tmp_path / "cards" / "classification"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return name


def _cache_files(tmp_path: Path) -> list[Path]:
    """Weight files in the cache: not the lock folder (empty marker files) nor the records of
    verified hashes."""
    root = tmp_path / "cache"
    skip = {".locks", ".hashes"}
    return sorted(p for p in root.rglob("*") if p.is_file() and not skip & set(p.parts)) if root.exists() else []


# ---------------------------------------------------------------------------------------------
def test_success_and_cache_hit(server, tmp_path):
    server.files["/w/toy.safetensors"] = PAYLOAD
    name = _card(tmp_path, "toy_ok", f"{server.base}/w/toy.safetensors")
    path = download_weights(name, progress=False)
    assert path == cached_weights_path(name, "toy.safetensors", SHA)
    assert path.read_bytes() == PAYLOAD
    assert _cache_files(tmp_path) == [path]  # no .part left behind
    again = download_weights(name, progress=True)  # progress bar path, served from the cache
    assert again == path and len(server.gets("/w/toy.safetensors")) == 1


def test_cache_dir_argument_and_home(server, tmp_path, monkeypatch):
    server.files["/w/toy.safetensors"] = PAYLOAD
    name = _card(tmp_path, "toy_dir", f"{server.base}/w/toy.safetensors")
    path = download_weights(name, cache_dir=tmp_path / "elsewhere", progress=False)
    assert (tmp_path / "elsewhere") in path.parents
    monkeypatch.delenv("PGG_ZOO_CACHE")
    monkeypatch.setenv("PGG_ZOO_HOME", str(tmp_path / "home"))
    assert weights_cache_dir() == tmp_path / "home" / "weights"


def test_hash_mismatch_leaves_nothing(server, tmp_path):
    server.files["/w/toy.safetensors"] = PAYLOAD
    server.modes["/w/toy.safetensors"] = "wrong"
    name = _card(tmp_path, "toy_bad", f"{server.base}/w/toy.safetensors")
    with pytest.raises(HashMismatchError, match="sha256") as ei:
        download_weights(name, progress=False)
    assert "/w/toy.safetensors" in str(ei.value)
    assert _cache_files(tmp_path) == []


def test_cut_transfer_is_resumed_with_range(server, tmp_path):
    server.files["/w/toy.safetensors"] = PAYLOAD
    server.modes["/w/toy.safetensors"] = "cut_once"
    name = _card(tmp_path, "toy_cut", f"{server.base}/w/toy.safetensors")
    path = download_weights(name, progress=False)
    assert path.read_bytes() == PAYLOAD
    ranges = server.gets("/w/toy.safetensors")
    assert ranges[0] is None and ranges[1] == f"bytes={len(PAYLOAD) // 2}-"
    assert _cache_files(tmp_path) == [path]


def test_interrupted_download_never_caches_and_resumes_later(server, tmp_path):
    url = f"{server.base}/w/toy.safetensors"
    server.files["/w/toy.safetensors"] = PAYLOAD
    server.modes["/w/toy.safetensors"] = "cut"  # every attempt is cut
    dest = tmp_path / "cache" / "x" / "toy.safetensors"
    with pytest.raises(DownloadError, match="resumes"):
        fetch(url, dest, sha256=SHA, progress=False, retries=1)
    assert not dest.exists()  # nothing under the final name
    part = dest.with_name(".toy.safetensors.part")
    kept = part.stat().st_size
    assert 0 < kept < len(PAYLOAD)  # kept for the next attempt, under a hidden name
    server.modes["/w/toy.safetensors"] = "ok"
    assert fetch(url, dest, sha256=SHA, progress=False).read_bytes() == PAYLOAD
    assert server.gets("/w/toy.safetensors")[-1] == f"bytes={kept}-"  # resumed, not restarted
    assert not part.exists()


def test_server_without_range_support_restarts(server, tmp_path):
    server.ranges = False
    server.files["/w/toy.safetensors"] = PAYLOAD
    server.modes["/w/toy.safetensors"] = "cut_once"
    dest = tmp_path / "cache" / "y" / "toy.safetensors"
    assert fetch(f"{server.base}/w/toy.safetensors", dest, sha256=SHA, progress=False).read_bytes() == PAYLOAD


def test_404_names_the_url(server, tmp_path):
    name = _card(tmp_path, "toy_404", f"{server.base}/w/missing.safetensors")
    with pytest.raises(DownloadError, match="404") as ei:
        download_weights(name, progress=False)
    assert f"{server.base}/w/missing.safetensors" in str(ei.value)
    assert len(server.gets("/w/missing.safetensors")) == 1  # a 404 is not retried
    assert _cache_files(tmp_path) == []


def test_offline_mode(server, tmp_path, monkeypatch):
    server.files["/w/toy.safetensors"] = PAYLOAD
    name = _card(tmp_path, "toy_off", f"{server.base}/w/toy.safetensors")
    monkeypatch.setenv("PGG_ZOO_OFFLINE", "1")
    with pytest.raises(OfflineError) as ei:
        download_weights(name, progress=False)
    msg = str(ei.value)
    assert str(cached_weights_path(name, "toy.safetensors", SHA)) in msg and "offline" in msg
    assert server.log == []  # the network was never touched
    path = download_weights(name, progress=False, offline=False)  # explicit argument wins
    assert download_weights(name, progress=False) == path  # cached: fine offline
    assert len(server.log) == 1


def test_mirror_prefix(server, tmp_path, monkeypatch):
    server.files["/mirror/files.example.invalid/models/toy.safetensors"] = PAYLOAD
    name = _card(tmp_path, "toy_mirror", "https://files.example.invalid/models/toy.safetensors")
    monkeypatch.setenv("PGG_ZOO_MIRROR", f"{server.base}/mirror/")
    path = download_weights(name, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert server.gets("/mirror/files.example.invalid/models/toy.safetensors") == [None]


def test_mirror_local_folder_works_offline(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    f = mirror / "files.example.invalid" / "models" / "toy.safetensors"
    f.parent.mkdir(parents=True)
    f.write_bytes(PAYLOAD)
    assert apply_mirror("https://files.example.invalid/models/toy.safetensors", str(mirror)) == f.as_uri()
    name = _card(tmp_path, "toy_localmirror", "https://files.example.invalid/models/toy.safetensors")
    monkeypatch.setenv("PGG_ZOO_OFFLINE", "1")
    assert download_weights(name, progress=False, mirror=str(mirror)).read_bytes() == PAYLOAD


def test_file_url(tmp_path):
    # a file:// url must stay in the card's folder (tests/test_card_urls.py)
    src = tmp_path / "cards" / "classification" / "src" / "toy.safetensors"
    src.parent.mkdir(parents=True)
    src.write_bytes(PAYLOAD)
    name = _card(tmp_path, "toy_file", src.as_uri())
    path = download_weights(name, progress=False)
    assert path.read_bytes() == PAYLOAD and path != src
    bad = _card(tmp_path, "toy_file_bad", src.as_uri(), sha256="0" * 64)
    with pytest.raises(HashMismatchError):
        download_weights(bad, progress=False)
    gone = _card(tmp_path, "toy_file_gone", (src.parent / "nope.safetensors").as_uri())
    with pytest.raises(DownloadError, match="no such file"):
        download_weights(gone, progress=False)


def test_shipped_weights_relative_to_card(tmp_path):
    name = _card(tmp_path, "toy_shipped", "toy_shipped.safetensors")
    shipped = tmp_path / "cards" / "classification" / "toy_shipped.safetensors"
    shipped.write_bytes(PAYLOAD)
    assert download_weights(name, progress=False) == shipped.resolve()
    shipped.write_bytes(PAYLOAD + b"x")
    with pytest.raises(HashMismatchError):
        download_weights(name, progress=False)


def test_unverified_needs_opt_in(server, tmp_path):
    server.files["/w/toy.safetensors"] = PAYLOAD
    name = _card(tmp_path, "toy_unverified", f"{server.base}/w/toy.safetensors", sha256=None,
                 sha256_prefix=SHA[:8])
    with pytest.raises(UnverifiedWeightsError, match="allow_unverified"):
        download_weights(name, progress=False)
    assert server.log == []
    with pytest.warns(UserWarning, match=SHA):
        path = download_weights(name, progress=False, allow_unverified=True)
    assert path.parent.name == "unverified"
    wrong = _card(tmp_path, "toy_unverified_prefix", f"{server.base}/w/toy.safetensors", sha256=None,
                  sha256_prefix="deadbeef")
    with pytest.raises(HashMismatchError, match="prefix"):
        download_weights(wrong, progress=False, allow_unverified=True)


def _child_download(name: str, env: dict[str, str], expected: bytes) -> None:
    os.environ.update(env)
    path = download_weights(name, progress=False)
    assert path.read_bytes() == expected


def test_two_processes_download_once(server, tmp_path):
    server.files["/w/toy.safetensors"] = PAYLOAD
    server.modes["/w/toy.safetensors"] = "slow"
    name = _card(tmp_path, "toy_conc", f"{server.base}/w/toy.safetensors")
    env = {k: os.environ[k] for k in ("PGG_ZOO_CACHE", "PGG_ZOO_CARD_PATH")}
    # fork: the children need no re-import of torch (spawn would cost seconds per child).
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_child_download, args=(name, env, PAYLOAD)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=30)
    assert [p.exitcode for p in procs] == [0, 0]
    files = _cache_files(tmp_path)
    assert files == [cached_weights_path(name, "toy.safetensors", SHA)]
    assert len(server.gets("/w/toy.safetensors")) == 1  # the second process waited, then reused


# ---------------------------------------------------------------------------------------------
# Loading into a model
class _Toy(nn.Module):
    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.head = nn.Linear(64, num_classes)


def test_load_weights_strict(server, tmp_path):
    server.files["/w/toy.safetensors"] = PAYLOAD
    name = _card(tmp_path, "toy_load", f"{server.base}/w/toy.safetensors", rename={"": "head."})
    model = _Toy(3)
    card = load_weights(model, name, progress=False)
    assert card.name == name
    torch.manual_seed(0)
    ref = nn.Linear(64, 3)  # the same draw that made PAYLOAD
    assert torch.equal(model.head.weight, ref.weight)

    wrong = _Toy(5)
    before = wrong.head.weight.clone()
    with pytest.raises(WeightsMismatchError) as ei:
        load_weights(wrong, name, progress=False)
    msg = str(ei.value)
    assert "head.weight: checkpoint [3, 64] vs model [5, 64]" in msg and "3 classes" in msg
    assert torch.equal(wrong.head.weight, before)  # nothing loaded

    other = nn.Sequential(nn.Linear(64, 3))
    with pytest.raises(WeightsMismatchError) as ei:
        load_weights(other, name, progress=False)
    assert ei.value.missing == ["0.bias", "0.weight"]
    assert ei.value.unexpected == ["head.bias", "head.weight"]


def test_load_pth_with_state_dict_key_submodule_and_exclude(tmp_path):
    torch.manual_seed(1)
    up = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 10))  # "upstream" with a 10-class head
    buf = io.BytesIO()
    torch.save({"model_state": up.state_dict(), "epoch": 3}, buf)
    src = tmp_path / "cards" / "classification" / "up.pth"  # file:// urls stay in the card's folder
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(buf.getvalue())
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    name = _card(tmp_path, "toy_pth", src.as_uri(), sha256=sha, format="pth",
                 state_dict_key="model_state", submodule="backbone", exclude=["1."])

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = nn.Sequential(nn.Linear(4, 4))
            self.head = nn.Linear(4, 2)  # the task's own head stays as built

    net = Net()
    load_weights(net, name, progress=False)
    assert torch.equal(net.backbone[0].weight, up[0].weight)

    class Wider(Net):  # the task adds a layer the upstream checkpoint does not have
        def __init__(self) -> None:
            super().__init__()
            self.backbone.append(nn.Linear(4, 4))

    with pytest.raises(WeightsMismatchError, match="missing keys .2.: backbone.1.bias|missing keys"):
        load_weights(Wider(), name, progress=False)
    ok = _card(tmp_path, "toy_pth_extra", src.as_uri(), sha256=sha, format="pth",
               state_dict_key="model_state", submodule="backbone", exclude=["1."], missing_ok=["1."])
    wider = Wider()
    extra_before = wider.backbone[1].weight.clone()
    load_weights(wider, ok, progress=False)
    assert torch.equal(wider.backbone[0].weight, up[0].weight)
    assert torch.equal(wider.backbone[1].weight, extra_before)  # new layer keeps its init
    assert "num_classes" not in card_build_overrides(name)  # a backbone card sets no classes


def test_card_build_overrides(tmp_path):
    name = _card(tmp_path, "toy_over", "toy_over.safetensors")
    card = load_card(name)
    assert card_build_overrides(card) == {"backbone": "linear", "num_classes": 3, "image_size": 8}
    full = card_build_overrides(card, include_training=True, known_keys=["backbone", "alpha", "guidance"])
    assert full == {"backbone": "linear", "alpha": 0.05, "guidance": True}


def test_merge_card_overrides(tmp_path):
    from pgg_zoo.cards import CardError, merge_card_overrides

    name = _card(tmp_path, "toy_merge", "toy_merge.safetensors")
    assert merge_card_overrides(name, "classification", {"lr": 0.1}) == {
        "backbone": "linear", "num_classes": 3, "image_size": 8, "lr": 0.1}
    assert merge_card_overrides(name, "classification", {"image_size": 16})["image_size"] == 16
    with pytest.raises(CardError, match="num_classes=5 but the weights have num_classes=3"):
        merge_card_overrides(name, "classification", {"num_classes": 5})
    with pytest.raises(CardError, match="for task 'classification', not 'wsol'"):
        merge_card_overrides(name, "wsol", {})


def test_cli_commands(server, tmp_path, capsys):
    from pgg_zoo.cli.main import main

    server.files["/w/toy.safetensors"] = PAYLOAD
    name = _card(tmp_path, "toy_cli", f"{server.base}/w/toy.safetensors")
    assert main(["cards", "--task", "classification"]) == 0
    assert name in capsys.readouterr().out
    assert main(["card", name]) == 0
    assert SHA in capsys.readouterr().out
    assert main(["download", name, "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == str(cached_weights_path(name, "toy.safetensors", SHA))
    bad = _card(tmp_path, "toy_cli_404", f"{server.base}/w/nope.safetensors")
    assert main(["download", bad, "--no-progress"]) == 1
    assert "404" in capsys.readouterr().err
    unv = _card(tmp_path, "toy_cli_unv", f"{server.base}/w/toy.safetensors", sha256=None)
    assert main(["download", unv, "--no-progress"]) == 2
    assert "--allow-unverified" in capsys.readouterr().err
    assert main(["download", unv, "--no-progress", "--allow-unverified"]) == 0


# ---------------------------------------------------------------------------------------------
# Cached files are verified on every use (issue 13, item 4)
def _flip_last_byte(path: Path, *, bump_mtime: bool = True) -> None:
    """Change one byte in place (same size). The write itself changes mtime and ctime, but a
    coarse clock could leave them equal to the download's: ``bump_mtime`` moves mtime on by
    a second so the test never depends on timestamp granularity."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    time.sleep(0.02)
    with open(path, "r+b") as f:
        f.write(bytes(data))
    if bump_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert path.stat().st_size == st.st_size


def _count_hashing(monkeypatch) -> list[str]:
    import pgg_zoo.cards.download as dl

    calls: list[str] = []
    real = dl.sha256_file

    def counting(p):
        calls.append(str(p))
        return real(p)

    monkeypatch.setattr(dl, "sha256_file", counting)
    return calls


def test_cached_file_changed_in_place_is_caught(server, tmp_path, monkeypatch):
    server.files["/w/toy.safetensors"] = PAYLOAD
    name = _card(tmp_path, "toy_rehash", f"{server.base}/w/toy.safetensors")
    calls = _count_hashing(monkeypatch)
    path = download_weights(name, progress=False)
    assert len(calls) == 1  # hashed once while downloading, and recorded
    assert download_weights(name, progress=False) == path
    assert len(calls) == 1  # unchanged file: the recorded digest is reused, no re-hash
    _flip_last_byte(path)
    with pytest.raises(HashMismatchError) as ei:
        download_weights(name, progress=False)
    msg = str(ei.value)
    assert str(path) in msg and "changed after it was verified" in msg and SHA in msg
    assert "\n" not in msg and isinstance(ei.value, ValueError)
    assert len(server.gets("/w/toy.safetensors")) == 1  # not silently fetched again
    with pytest.raises(HashMismatchError):  # and not recorded as good by the failed check
        download_weights(name, progress=False)


def test_cached_change_with_mtime_set_back_is_caught(server, tmp_path):
    server.files["/w/toy.safetensors"] = PAYLOAD
    name = _card(tmp_path, "toy_rehash_mtime", f"{server.base}/w/toy.safetensors")
    path = download_weights(name, progress=False)
    st = path.stat()
    _flip_last_byte(path, bump_mtime=False)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime as verified
    if path.stat().st_ctime_ns == st.st_ctime_ns:
        pytest.skip("this file system's ctime did not move within the test")
    with pytest.raises(HashMismatchError, match="changed after it was verified"):
        download_weights(name, progress=False)


def _wsol_card(tmp_path: Path, server, name: str) -> str:
    """A card for the real tiny_cam WSOL model, its weights served by the test server."""
    import pgg_zoo
    from safetensors.torch import save

    model = pgg_zoo.build("wsol", num_classes=3).model
    payload = save({k: v.contiguous() for k, v in model.state_dict().items()})
    server.files[f"/w/{name}.safetensors"] = payload
    _card(tmp_path, name, f"{server.base}/w/{name}.safetensors",
          sha256=hashlib.sha256(payload).hexdigest())
    path = tmp_path / "cards" / "classification" / f"{name}.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(task="wsol", backbone="tiny_cam", input={"size": [64, 64], "mean": [0.5] * 3,
                                                         "std": [0.25] * 3})
    data["weights"]["size_bytes"] = len(payload)
    data["file_size_mb"] = round(len(payload) / 2**20, 4)
    data["metrics"] = {"toy": {"top1[test]": 50.0}}
    folder = tmp_path / "cards" / "wsol"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    path.unlink()
    return name


def test_changed_cache_through_build_and_eval_is_one_line(server, tmp_path, capsys):
    import pgg_zoo
    from pgg_zoo.cli.main import main

    name = _wsol_card(tmp_path, server, "toy_wsol_rehash")
    task = pgg_zoo.build("wsol", weights=name)  # downloads, verifies, loads
    path = download_weights(name, progress=False)
    _flip_last_byte(path)
    with pytest.raises(HashMismatchError, match="changed after it was verified"):
        pgg_zoo.build("wsol", weights=name)
    assert task.options["weights"] == name
    rc = main(["eval", "wsol", "--set", f"weights={name}", "--work-dir", str(tmp_path / "ev")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith(f"pgg-zoo: error: cached weights {path}")
    assert main(["download", name, "--no-progress"]) == 1
    assert "changed after it was verified" in capsys.readouterr().err


def test_failed_download_does_not_claim_a_part_file(tmp_path):
    with socket.socket() as s:  # a port nobody listens on: connections are refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dest = tmp_path / "cache" / "z" / "toy.safetensors"
    with pytest.raises(DownloadError) as ei:
        fetch(f"http://127.0.0.1:{port}/w/toy.safetensors", dest, sha256=SHA, progress=False,
              retries=0)
    msg = str(ei.value)
    part = dest.with_name(".toy.safetensors.part")
    assert not part.exists()
    assert "partial file" not in msg and "nothing was kept" in msg


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize("tty", [False, True])
def test_progress_bar_only_on_a_terminal(server, tmp_path, monkeypatch, tty):
    server.files["/w/toy.safetensors"] = PAYLOAD
    stream = _Stream(tty)
    monkeypatch.setattr("sys.stderr", stream)
    fetch(f"{server.base}/w/toy.safetensors", tmp_path / "d" / "toy.safetensors", sha256=SHA,
          progress=True)
    assert ("toy.safetensors" in stream.getvalue()) is tty
    if not tty:
        assert stream.getvalue() == ""


def _interrupted_download(closed_bar: bool):
    def fake(*args: Any, **kwargs: Any):
        import pgg_zoo.cards.download as dl

        if closed_bar:  # the download's own bar, inside its context
            with dl._progress_bar(1000, 0, "toy.safetensors", True) as bar:
                bar.update(400)
                raise KeyboardInterrupt
        from tqdm import tqdm  # a bar left open, as the training loop's is on Ctrl-C

        bar = tqdm(total=10, desc="wsol epoch 1/1", leave=False, file=sys.stderr)
        bar.update(3)
        raise KeyboardInterrupt
    return fake


@pytest.mark.parametrize("closed_bar", [True, False])
def test_interrupted_gets_its_own_line(monkeypatch, closed_bar):
    import pgg_zoo.cards
    from pgg_zoo.cli.main import main

    stream = _Stream(True)
    monkeypatch.setattr("sys.stderr", stream)
    monkeypatch.setattr(pgg_zoo.cards, "download_weights", _interrupted_download(closed_bar))
    assert main(["download", "whatever"]) == 130
    text = stream.getvalue()
    assert "toy.safetensors" in text or "wsol epoch" in text  # a bar was drawn
    before, sep, after = text.rpartition("interrupted")
    assert sep and after == "\n"
    assert before.endswith("\n"), repr(text[-120:])  # not glued onto the bar's line
