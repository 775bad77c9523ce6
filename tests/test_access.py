"""app/access.py: the admin token, who a visitor is (a signed cookie, else their address), and the limits that
hold per visitor and per address, whatever cookies a client sends."""
from __future__ import annotations

import os
import stat

import pytest
from flask import Flask

from app import access
from app.access import Access, Limits, RateLimited, cookie_for, load_secret


def test_the_admin_token_is_compared_exactly_and_an_own_machine_is_open():
    guarded = Access(token="s3cret-token")
    assert guarded.is_admin("s3cret-token")
    for forged in ("s3cret-toke", "s3cret-token ", "", None, 12, ["s3cret-token"], "x" * 300):
        assert not guarded.is_admin(forged)
    assert not Access().is_admin("anything")  # no token set, served: nobody is the admin
    assert Access(open=True).is_admin(None)  # python -m app on loopback: one person's own


def test_the_secret_is_made_once_kept_private_and_read_by_every_process(tmp_path, monkeypatch):
    monkeypatch.delenv(access.SECRET_ENV, raising=False)
    first = load_secret(tmp_path / "jobs")
    assert len(first) >= 32 and load_secret(tmp_path / "jobs") == first
    assert stat.S_IMODE(os.stat(tmp_path / "jobs" / access.SECRET_FILE).st_mode) == 0o600
    (tmp_path / "jobs" / access.SECRET_FILE).write_text("short")
    with pytest.raises(RuntimeError, match="too short"):
        load_secret(tmp_path / "jobs")
    monkeypatch.setenv(access.SECRET_ENV, "from-the-environment-" * 3)
    assert load_secret(tmp_path / "elsewhere") == ("from-the-environment-" * 3).encode()


@pytest.fixture
def limited(tmp_path, monkeypatch):
    """A Flask app with Limits over a SQLite store, the train limit at 2 per visitor and 3 per address."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv(access.SECRET_ENV, raising=False)
    monkeypatch.setitem(access.LIMITS, "train", "2 per minute")
    monkeypatch.setitem(access.ADDRESS_LIMITS, "train", "3 per minute")
    server = Flask("limits-test")
    limits = Limits(server, tmp_path)

    @server.route("/train")
    def train():
        try:
            limits.check("train")
        except RateLimited as e:
            return e.description, 429
        return access.visitor(), 200
    return server, limits


def test_a_signed_visitor_is_counted_and_a_forged_cookie_is_nobody(limited):
    server, limits = limited
    client = server.test_client()
    mine = "a" * 32
    client.set_cookie(access.VISITOR_COOKIE, cookie_for(limits.signer, mine))
    answers = [client.get("/train", environ_base={"REMOTE_ADDR": "10.0.0.1"}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].text == mine and answers[2].text == access.SENTENCES["train"]
    assert limits.unsign(cookie_for(limits.signer, mine)) == mine
    for forged in (mine, mine + ".forged", cookie_for(limits.signer, "not-hex"), None, "x" * 500):
        assert limits.unsign(forged) is None


def test_a_new_cookie_every_request_still_meets_the_address_limit(limited):
    server, limits = limited
    codes = []
    for n in range(5):
        client = server.test_client()  # a fresh visitor id each time, from one address
        client.set_cookie(access.VISITOR_COOKIE, cookie_for(limits.signer, f"{n:032x}"))
        codes.append(client.get("/train", environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code)
    assert codes == [200, 200, 200, 429, 429]
    other = server.test_client()  # another address is not held back by this one
    other.set_cookie(access.VISITOR_COOKIE, cookie_for(limits.signer, "f" * 32))
    assert other.get("/train", environ_base={"REMOTE_ADDR": "10.0.0.3"}).status_code == 200


def test_counted_once_per_key_and_an_ipv6_client_is_its_64(limited):
    server, limits = limited
    with server.test_request_context("/", environ_base={"REMOTE_ADDR": "2001:db8:1:2:3:4:5:6"}):
        assert access.address() == "2001:db8:1:2::/64"
        for _ in range(5):  # stepping through one timeline is one use
            limits.check_once("train", "mnist/linear")
        limits.check_once("train", "mnist/mlp")
        with pytest.raises(RateLimited):
            limits.check_once("train", "mnist/cnn")
    with server.test_request_context("/", environ_base={"REMOTE_ADDR": "::ffff:192.0.2.7"}):
        assert access.address() == "192.0.2.7" and access.visitor() == "ip:192.0.2.7"
    assert access.visitor() == "local" and access.address() == ""  # called outside a request: the tests, warm-up
