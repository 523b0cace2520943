"""Smoke test of a running stack, through the BFFs (as a client would call them).

    python scripts/smoke.py --book-bff http://127.0.0.1:8080 --customer-bff http://127.0.0.1:8081 \\
        --jwt-secret "$(cat var/jwt_secret)" --mail-dir var/mail

Prints one `PASS`/`FAIL` line per check and exits 1 if any failed. It creates one book and one
customer with unique keys and deletes them again at the end. Give `--token` to use a ready JWT,
or `--jwt-secret` (or JWT_SECRET) to mint one for `starlord`. With `--mail-dir` it also waits for
the welcome e-mail file of the new customer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from devkit.tokens import mint_token as mint_token  # re-exported: the one minting

DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) bookstore-smoke/1.0"
MOBILE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
             "(KHTML, like Gecko) Mobile/15E148 bookstore-smoke/1.0")
COURSE_ISBN = "978-0321815736"
WELCOME_SUBJECT = "Activate your book store account"
MOBILE_STRIPPED = ("address", "address2", "city", "state", "zipcode")


class CheckFailed(Exception):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


@dataclass
class Reply:
    status: int
    text: str
    headers: dict[str, str]
    json: Any = None


@dataclass
class Smoke:
    book_bff: str
    customer_bff: str
    token: str
    mail_dir: Path | None = None
    mail_timeout_s: float = 20.0
    out: Any = field(default=sys.stdout)
    # Do not verify the BFFs' TLS certificates (a load balancer addressed by its own DNS name).
    tls_insecure: bool = False
    results: list[tuple[str, bool, str]] = field(default_factory=list)
    session: aiohttp.ClientSession | None = None
    # State shared between checks (set by the create checks).
    isbn: str = field(default_factory=lambda: f"smoke-{uuid.uuid4().hex[:12]}")
    user_id: str = field(default_factory=lambda: f"smoke+{uuid.uuid4().hex[:12]}@example.com")
    customer_id: int | None = None

    async def call(self, method: str, url: str, *, ua: str | None = DESKTOP_UA,
                   auth: bool = True, body: Any = None) -> Reply:
        assert self.session is not None
        headers: dict[str, str] = {}
        if ua is not None:
            headers["User-Agent"] = ua
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        # aiohttp adds its own User-Agent unless told not to.
        skip = () if ua is not None else ("User-Agent",)
        async with self.session.request(method, url, headers=headers, json=body,
                                        skip_auto_headers=skip) as response:
            text = await response.text()
            reply = Reply(response.status, text, dict(response.headers))
            if response.content_type == "application/json" and text:
                reply.json = await response.json()
            return reply

    async def check(self, name: str, step: Callable[[], Awaitable[str]]) -> bool:
        try:
            detail = await step()
            passed = True
        except CheckFailed as exc:
            detail, passed = str(exc), False
        except (aiohttp.ClientError, TimeoutError) as exc:
            detail, passed = f"{type(exc).__name__}: {exc}", False
        self.results.append((name, passed, detail))
        print(f"{'PASS' if passed else 'FAIL'}  {name}" + (f"  ({detail})" if detail else ""),
              file=self.out, flush=True)
        return passed

    # --- checks -------------------------------------------------------------------------

    async def status(self) -> str:
        for base in (self.book_bff, self.customer_bff):
            reply = await self.call("GET", f"{base}/status", ua=None, auth=False)
            expect(reply.status == 200 and reply.text == "OK",
                   f"{base}/status -> {reply.status} {reply.text[:100]!r}")
        return "both BFFs answer OK"

    async def unauthorized(self) -> str:
        reply = await self.call("GET", f"{self.book_bff}/books", auth=False)
        expect(reply.status == 401, f"GET /books without token -> {reply.status}")
        reply = await self.call("GET", f"{self.customer_bff}/customers/1", auth=False)
        expect(reply.status == 401, f"GET /customers/1 without token -> {reply.status}")
        return "401 on both BFFs"

    async def missing_user_agent(self) -> str:
        reply = await self.call("GET", f"{self.book_bff}/books", ua=None)
        expect(reply.status == 400, f"GET /books without User-Agent -> {reply.status}")
        return "400"

    async def create_book(self) -> str:
        book = {"ISBN": self.isbn, "title": "Smoke Signals", "Author": "Smoke Test",
                "description": "Created by scripts/smoke.py.", "genre": "non-fiction",
                "price": 12.5, "quantity": 3}
        reply = await self.call("POST", f"{self.book_bff}/books", body=book)
        expect(reply.status == 201, f"POST /books -> {reply.status} {reply.text[:200]}")
        expect(reply.json == book, f"body {reply.json!r}")
        location = reply.headers.get("Location", "")
        expect(location == f"{self.book_bff}/books/{self.isbn}", f"Location {location!r}")
        return f"201, Location {location}"

    async def get_book_desktop(self) -> str:
        reply = await self.call("GET", f"{self.book_bff}/books/{self.isbn}")
        expect(reply.status == 200, f"GET -> {reply.status} {reply.text[:200]}")
        expect(reply.json.get("genre") == "non-fiction", f"genre {reply.json.get('genre')!r}")
        return "genre non-fiction"

    async def get_book_mobile(self) -> str:
        reply = await self.call("GET", f"{self.book_bff}/books/{self.isbn}", ua=MOBILE_UA)
        expect(reply.status == 200, f"GET -> {reply.status} {reply.text[:200]}")
        genre = reply.json.get("genre")
        expect(genre == 3 and not isinstance(genre, bool), f"genre {genre!r}")
        return "genre 3"

    async def list_books(self) -> str:
        reply = await self.call("GET", f"{self.book_bff}/books?limit=5")
        expect(reply.status == 200, f"GET /books -> {reply.status} {reply.text[:200]}")
        items = reply.json.get("items") if isinstance(reply.json, dict) else None
        expect(isinstance(items, list), f"body {reply.text[:200]}")
        assert isinstance(items, list)
        expect(1 <= len(items) <= 5, f"{len(items)} items for limit=5")
        expect("next" in reply.json, "no `next` in the page")
        reply = await self.call("GET", f"{self.book_bff}/books?q=smoke%20signals")
        found = [item["ISBN"] for item in reply.json.get("items", [])]
        expect(self.isbn in found, f"q=smoke signals found {found}")
        return f"{len(items)} items, search finds the new book"

    async def related_books(self) -> str:
        reply = await self.call("GET", f"{self.book_bff}/books/{COURSE_ISBN}/related-books")
        expect(reply.status == 200, f"-> {reply.status} {reply.text[:200]}")
        expect(isinstance(reply.json, list) and len(reply.json) > 0, f"body {reply.text[:200]}")
        first = reply.json[0]
        expect(set(first) == {"ISBN", "title", "Author"}, f"item {first!r}")
        return f"{len(reply.json)} related titles"

    async def create_customer(self) -> str:
        customer = {"userId": self.user_id, "name": "Smoke Test", "phone": "+14125550199",
                    "address": "5000 Forbes Ave", "address2": "Suite 1", "city": "Pittsburgh",
                    "state": "pa", "zipcode": "15213"}
        reply = await self.call("POST", f"{self.customer_bff}/customers", body=customer)
        expect(reply.status == 201, f"POST /customers -> {reply.status} {reply.text[:200]}")
        body = reply.json
        expect(isinstance(body.get("id"), int), f"id {body.get('id')!r}")
        expect(body.get("state") == "PA", f"state {body.get('state')!r}")
        self.customer_id = body["id"]
        location = reply.headers.get("Location", "")
        expect(location == f"{self.customer_bff}/customers/{self.customer_id}",
               f"Location {location!r}")
        return f"201, id {self.customer_id}"

    async def get_customer_desktop(self) -> str:
        expect(self.customer_id is not None, "no customer was created")
        reply = await self.call("GET", f"{self.customer_bff}/customers/{self.customer_id}")
        expect(reply.status == 200, f"GET -> {reply.status} {reply.text[:200]}")
        expect(reply.json.get("address") == "5000 Forbes Ave"
               and reply.json.get("address2") == "Suite 1", f"body {reply.json!r}")
        reply = await self.call(
            "GET", f"{self.customer_bff}/customers?userId={quote(self.user_id, safe='@')}")
        expect(reply.status == 200 and reply.json.get("id") == self.customer_id,
               f"GET ?userId= -> {reply.status} {reply.text[:200]}")
        return "full address; lookup by userId with %2B works"

    async def get_customer_mobile(self) -> str:
        expect(self.customer_id is not None, "no customer was created")
        reply = await self.call("GET", f"{self.customer_bff}/customers/{self.customer_id}",
                                ua=MOBILE_UA)
        expect(reply.status == 200, f"GET -> {reply.status} {reply.text[:200]}")
        left = [key for key in MOBILE_STRIPPED if key in reply.json]
        expect(not left, f"mobile body still has {left}")
        expect(reply.json.get("userId") == self.user_id, f"body {reply.json!r}")
        return "address fields removed"

    async def welcome_mail(self) -> str:
        assert self.mail_dir is not None
        deadline = time.monotonic() + self.mail_timeout_s
        while time.monotonic() < deadline:
            found = find_mail(self.mail_dir, self.user_id)
            if found is not None:
                path, subject = found
                expect(subject == WELCOME_SUBJECT, f"subject {subject!r}")
                waited = self.mail_timeout_s - (deadline - time.monotonic())
                return f"{path.name} after {waited:.1f}s"
            await asyncio.sleep(0.25)
        raise CheckFailed(f"no mail to {self.user_id} in {self.mail_dir} "
                          f"within {self.mail_timeout_s:.0f}s")

    async def cleanup(self) -> str:
        reply = await self.call("DELETE", f"{self.book_bff}/books/{self.isbn}")
        expect(reply.status == 204, f"DELETE book -> {reply.status}")
        if self.customer_id is not None:
            reply = await self.call("DELETE",
                                    f"{self.customer_bff}/customers/{self.customer_id}")
            expect(reply.status == 204, f"DELETE customer -> {reply.status}")
        return "test book and customer deleted"

    async def run(self) -> bool:
        timeout = aiohttp.ClientTimeout(total=15)
        connector = aiohttp.TCPConnector(ssl=False) if self.tls_insecure else None
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as self.session:
            await self.check("status", self.status)
            await self.check("401 without token", self.unauthorized)
            await self.check("400 without User-Agent", self.missing_user_agent)
            await self.check("create book", self.create_book)
            await self.check("get book (desktop)", self.get_book_desktop)
            await self.check("get book (mobile: non-fiction -> 3)", self.get_book_mobile)
            await self.check("list and search books", self.list_books)
            await self.check("related books", self.related_books)
            await self.check("create customer", self.create_customer)
            await self.check("get customer (desktop)", self.get_customer_desktop)
            await self.check("get customer (mobile: address removed)", self.get_customer_mobile)
            if self.mail_dir is not None:
                await self.check("welcome e-mail", self.welcome_mail)
            await self.check("cleanup", self.cleanup)
        failed = [name for name, passed, _ in self.results if not passed]
        print(f"smoke: {len(self.results) - len(failed)}/{len(self.results)} passed"
              + (f"; failed: {', '.join(failed)}" if failed else ""), file=self.out, flush=True)
        return not failed


def find_mail(mail_dir: Path, recipient: str) -> tuple[Path, str] | None:
    """The first `.eml` file under `mail_dir` addressed to `recipient`, with its subject."""
    if not mail_dir.is_dir():
        return None
    for path in sorted(mail_dir.rglob("*.eml")):
        try:
            message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        except OSError:
            continue  # being written
        if recipient.lower() in str(message.get("To", "")).lower():
            return path, str(message.get("Subject", ""))
    return None


async def run_smoke(book_bff: str, customer_bff: str, token: str, *,
                    mail_dir: Path | None = None, mail_timeout_s: float = 20.0,
                    out: Any = sys.stdout, tls_insecure: bool = False) -> bool:
    smoke = Smoke(book_bff.rstrip("/"), customer_bff.rstrip("/"), token, mail_dir=mail_dir,
                  mail_timeout_s=mail_timeout_s, out=out, tls_insecure=tls_insecure)
    return await smoke.run()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--book-bff", default="http://127.0.0.1:8080")
    parser.add_argument("--customer-bff", default="http://127.0.0.1:8081")
    parser.add_argument("--tls-insecure", action="store_true",
                        help="do not verify the BFFs' TLS certificates")
    parser.add_argument("--token", help="a JWT to send")
    parser.add_argument("--jwt-secret", default=os.environ.get("JWT_SECRET"),
                        help="mint a token with this HS256 secret (default: $JWT_SECRET)")
    parser.add_argument("--jwt-issuer", default="cmu.edu")
    parser.add_argument("--mail-dir", type=Path, help="wait for the welcome e-mail here")
    parser.add_argument("--mail-timeout", type=float, default=20.0)
    args = parser.parse_args(argv)
    token = args.token or (mint_token(args.jwt_secret, issuer=args.jwt_issuer)
                           if args.jwt_secret else None)
    if token is None:
        parser.error("give --token or --jwt-secret (or set JWT_SECRET)")
    passed = asyncio.run(run_smoke(args.book_bff, args.customer_bff, token,
                                   mail_dir=args.mail_dir, mail_timeout_s=args.mail_timeout,
                                   tls_insecure=args.tls_insecure))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
