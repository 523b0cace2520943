"""Writes the Postman collection and environment under docs/postman/ (generated, not hand-kept).

    python scripts/postman.py            # rewrite docs/postman/*.json
    python scripts/postman.py --check    # exit 1 when the files differ from what this writes

The collection calls every route of both BFFs, desktop and mobile, with test scripts asserting
the status codes and shapes of docs/API.md (ETags, If-None-Match, If-Match and
Idempotency-Key included). Run it against `make run`:

    newman run docs/postman/bookstore.postman_collection.json \\
        -e docs/postman/local.postman_environment.json --env-var token=$TOKEN

Every run creates its own book and customer (unique ISBN and userId) and deletes them again,
so it can be repeated against the same stack. tests/stack/test_postman.py runs it in make test.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "docs" / "postman"
COLLECTION = OUT_DIR / "bookstore.postman_collection.json"
ENVIRONMENT = OUT_DIR / "local.postman_environment.json"
SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
MOBILE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 postman"
DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) postman"
COURSE_ISBN = "978-0321815736"
NO_RELATED_ISBN = "000-0000000000"  # the reference engine: an even last digit -> 204

BOOK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["ISBN", "title", "Author", "description", "genre", "price", "quantity"],
    "properties": {
        "ISBN": {"type": "string"}, "title": {"type": "string"}, "Author": {"type": "string"},
        "description": {"type": "string"}, "genre": {"type": ["string", "integer"]},
        "price": {"type": "number", "minimum": 0}, "quantity": {"type": "integer", "minimum": 0},
    },
}
CUSTOMER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "userId", "name", "phone", "address", "city", "state", "zipcode"],
    "properties": {
        "id": {"type": "integer"}, "userId": {"type": "string"}, "name": {"type": "string"},
        "phone": {"type": "string"}, "address": {"type": "string"},
        "address2": {"type": "string"}, "city": {"type": "string"},
        "state": {"type": "string", "pattern": "^[A-Z]{2}$"}, "zipcode": {"type": "string"},
    },
}
MOBILE_CUSTOMER_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["id", "userId", "name", "phone"],
    "not": {"anyOf": [{"required": [f]} for f in
                      ("address", "address2", "city", "state", "zipcode")]},
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["message"], "properties": {"message": {"type": "string"}},
}

BOOK_BODY = """{
  "ISBN": "{{isbn}}",
  "title": "Postman Practice",
  "Author": "Newman, P.",
  "description": "a book the Postman collection creates and deletes",
  "genre": "non-fiction",
  "price": 19.99,
  "quantity": 3
}"""
CUSTOMER_BODY = """{
  "userId": "{{userId}}",
  "name": "Post Man",
  "phone": "+14125550100",
  "address": "5000 Forbes Ave",
  "address2": "suite 1",
  "city": "Pittsburgh",
  "state": "pa",
  "zipcode": "15213"
}"""


# --- test script pieces (JavaScript lines) ------------------------------------------------


def status(code: int) -> list[str]:
    return [f'pm.test("status {code}", () => pm.response.to.have.status({code}));']


def schema(name: str, value: dict[str, Any]) -> list[str]:
    return [f'pm.test("body is a {name}", () => '
            f'pm.response.to.have.jsonSchema({json.dumps(value)}));']


def error(code: int, message: str | None = None) -> list[str]:
    lines = [*status(code), *schema("JSON error", ERROR_SCHEMA)]
    if message is not None:
        lines.append(f'pm.test("message", () => pm.expect(pm.response.json().message)'
                     f'.to.eql({json.dumps(message)}));')
    return lines


def header(name: str, pattern: str) -> list[str]:
    return [f'pm.test("{name} header", () => pm.expect(pm.response.headers.get("{name}"))'
            f'.to.match(new RegExp({json.dumps(pattern)})));']


def no_body() -> list[str]:
    return ['pm.test("no body", () => pm.expect(pm.response.text()).to.eql(""));']


def remember(name: str, js_value: str) -> list[str]:
    return [f'pm.collectionVariables.set("{name}", {js_value});']


def field_equals(path: str, js_value: str) -> list[str]:
    return [f'pm.test("{path}", () => pm.expect(pm.response.json().{path}).to.eql({js_value}));']


# --- requests -----------------------------------------------------------------------------


def request(
    name: str,
    method: str,
    url: str,
    tests: list[str],
    *,
    body: str | None = None,
    content_type: str | None = "application/json",
    user_agent: str | None = None,
    auth: str | None = "collection",
    headers: dict[str, str] | None = None,
    prerequest: list[str] | None = None,
    description: str = "",
) -> dict[str, Any]:
    header_list = [{"key": k, "value": v} for k, v in (headers or {}).items()]
    if user_agent is not None:
        header_list.append({"key": "User-Agent", "value": user_agent})
    if body is not None and content_type is not None:
        header_list.append({"key": "Content-Type", "value": content_type})
    item: dict[str, Any] = {"name": name, "request": {"method": method, "header": header_list,
                                                       "url": url}}
    if description:
        item["request"]["description"] = description
    if body is not None:
        item["request"]["body"] = {"mode": "raw", "raw": body}
    if auth is None:
        item["request"]["auth"] = {"type": "noauth"}
    elif auth != "collection":
        item["request"]["auth"] = {"type": "bearer",
                                   "bearer": [{"key": "token", "value": auth, "type": "string"}]}
    events = [{"listen": "test", "script": {"type": "text/javascript", "exec": tests}}]
    if prerequest:
        events.insert(0, {"listen": "prerequest",
                          "script": {"type": "text/javascript", "exec": prerequest}})
    item["event"] = events
    return item


B = "{{bookBaseUrl}}"
C = "{{customerBaseUrl}}"


def books() -> dict[str, Any]:
    unique = ['pm.collectionVariables.set("isbn", "PM-" + Date.now().toString(36));',
              'pm.collectionVariables.set("bookKey", "book-" + Date.now().toString(36));']
    key = {"Idempotency-Key": "{{bookKey}}"}
    location = header("Location", r"/books/PM-[0-9a-z]+$")
    items = [
        request("POST /books creates a book", "POST", f"{B}/books", [
            *status(201), *schema("book", BOOK_SCHEMA), *location,
            'pm.test("stored as sent", () => { const b = pm.response.json();'
            ' pm.expect(b.ISBN).to.eql(pm.collectionVariables.get("isbn"));'
            ' pm.expect(b.price).to.eql(19.99); pm.expect(b.genre).to.eql("non-fiction"); });',
            *header("ETag", '^"[0-9a-f]{32}"$'), *remember("bookCreated", "pm.response.text()"),
        ], body=BOOK_BODY, prerequest=unique, headers=key),
        request("POST /books retried with the same Idempotency-Key: the same 201", "POST",
                f"{B}/books", [
                    *status(201), *header("Idempotent-Replayed", "^true$"), *location,
                    'pm.test("the original body", () => pm.expect(pm.response.text())'
                    '.to.eql(pm.collectionVariables.get("bookCreated")));',
                ], body=BOOK_BODY, headers=key),
        request("POST /books, same Idempotency-Key, another body: 422", "POST", f"{B}/books",
                error(422), body=BOOK_BODY.replace('"quantity": 3', '"quantity": 4'),
                headers=key),
        request("POST /books again: 422", "POST", f"{B}/books",
                error(422, "This ISBN already exists in the system."), body=BOOK_BODY),
        request("POST /books with invalid fields: 400", "POST", f"{B}/books", [
            *error(400),
            'pm.test("names the bad fields", () => pm.expect(pm.response.json().errors'
            '.map(e => e.field)).to.include.members(["price", "quantity"]));',
        ], body='{"ISBN": "{{isbn}}-x", "title": "T", "Author": "A", "description": "D",'
                ' "genre": "g", "price": 1.999, "quantity": -1}'),
        request("POST /books as text/plain: 415", "POST", f"{B}/books", error(415),
                body=BOOK_BODY, content_type="text/plain"),
        request("GET /books/{ISBN}", "GET", f"{B}/books/{{{{isbn}}}}", [
            *status(200), *schema("book", BOOK_SCHEMA), *field_equals("genre", '"non-fiction"'),
            *field_equals("quantity", "3"), *header("X-Request-ID", ".+"),
            *header("ETag", '^"[0-9a-f]{32}"$'),
            *remember("bookEtag", 'pm.response.headers.get("ETag")'),
        ]),
        request("GET /books/{ISBN} with If-None-Match: 304", "GET", f"{B}/books/{{{{isbn}}}}",
                [*status(304), *no_body()], headers={"If-None-Match": "{{bookEtag}}"}),
        request("PUT /books/{ISBN} with a stale If-Match: 412", "PUT", f"{B}/books/{{{{isbn}}}}",
                error(412), body=BOOK_BODY.replace('"quantity": 3', '"quantity": 99'),
                headers={"If-Match": '"00000000000000000000000000000000"'}),
        request("GET /books/{ISBN} after the 412: unchanged", "GET", f"{B}/books/{{{{isbn}}}}",
                [*status(200), *field_equals("quantity", "3")]),
        request("GET /books/isbn/{ISBN}", "GET", f"{B}/books/isbn/{{{{isbn}}}}", [
            *status(200), *schema("book", BOOK_SCHEMA),
            *field_equals("ISBN", 'pm.collectionVariables.get("isbn")'),
        ]),
        request("GET /books/{ISBN} as a mobile client: genre 3", "GET", f"{B}/books/{{{{isbn}}}}",
                [*status(200), *schema("book", BOOK_SCHEMA), *field_equals("genre", "3"),
                 *header("ETag", '^"[0-9a-f]{32}-m"$')],
                user_agent=MOBILE_UA),
        request("GET /books/isbn/{ISBN} as a mobile client: genre 3", "GET",
                f"{B}/books/isbn/{{{{isbn}}}}", [*status(200), *field_equals("genre", "3")],
                user_agent=MOBILE_UA),
        request("HEAD /books/{ISBN}", "HEAD", f"{B}/books/{{{{isbn}}}}",
                [*status(200), *no_body(), *header("Content-Type", "^application/json")]),
        request("GET /books?limit=2", "GET", f"{B}/books?limit=2", [
            *status(200),
            *schema("page", {"type": "object", "required": ["items", "next"], "properties": {
                "items": {"type": "array", "maxItems": 2, "items": BOOK_SCHEMA},
                "next": {"type": ["string", "null"]}}}),
        ]),
        request("GET /books?q=postman finds the book", "GET",
                f"{B}/books?q=postman&author=Newman,%20P.", [
                    *status(200),
                    'pm.test("found", () => pm.expect(pm.response.json().items.map(b => b.ISBN))'
                    '.to.include(pm.collectionVariables.get("isbn")));',
                    'pm.test("lists are not reshaped", () => pm.response.json().items'
                    '.forEach(b => pm.expect(b.genre).to.be.a("string")));',
                ], user_agent=MOBILE_UA),
        request("GET /books?limit=0: 400", "GET", f"{B}/books?limit=0", error(400)),
        request("PUT /books/{ISBN} with the current If-Match", "PUT", f"{B}/books/{{{{isbn}}}}", [
            *status(200), *schema("book", BOOK_SCHEMA), *field_equals("quantity", "7"),
            *field_equals("genre", '"non-fiction"'),
            'pm.test("a new ETag", () => pm.expect(pm.response.headers.get("ETag"))'
            '.to.not.eql(pm.collectionVariables.get("bookEtag")));',
        ], body=BOOK_BODY.replace('"quantity": 3', '"quantity": 7'), user_agent=MOBILE_UA,
                headers={"If-Match": "{{bookEtag}}"},
                description="PUT answers are never reshaped, mobile or not."),
        request("PUT /books/{ISBN} with another ISBN in the body: 400", "PUT",
                f"{B}/books/{{{{isbn}}}}", error(400),
                body=BOOK_BODY.replace('"{{isbn}}"', '"{{isbn}}-other"')),
        request("PUT /books/{ISBN} unknown: 404", "PUT", f"{B}/books/{{{{isbn}}}}-none",
                error(404), body=BOOK_BODY.replace('"{{isbn}}"', '"{{isbn}}-none"')),
        request("GET /books/{ISBN}/related-books", "GET",
                f"{B}/books/{COURSE_ISBN}/related-books", [
                    *status(200),
                    *schema("list of related books", {"type": "array", "minItems": 1, "items": {
                        "type": "object", "required": ["ISBN", "title", "Author"]}}),
                ]),
        request("GET /books/{ISBN}/related-books with none: 204", "GET",
                f"{B}/books/{NO_RELATED_ISBN}/related-books", [*status(204), *no_body()]),
        request("DELETE /books/{ISBN}", "DELETE", f"{B}/books/{{{{isbn}}}}",
                [*status(204), *no_body()]),
        request("GET /books/{ISBN} after DELETE: 404", "GET", f"{B}/books/{{{{isbn}}}}",
                error(404)),
        request("DELETE /books/{ISBN} again: 404", "DELETE", f"{B}/books/{{{{isbn}}}}",
                error(404)),
    ]
    return {"name": "Books (Book BFF)", "item": items}


def customers() -> dict[str, Any]:
    unique = ['pm.collectionVariables.set("userId", "post+" + Date.now().toString(36)'
              ' + "@example.org");']
    unique.append('pm.collectionVariables.set("customerKey", "signup-" + Date.now().toString(36));')
    key = {"Idempotency-Key": "{{customerKey}}"}
    items = [
        request("POST /customers registers a customer", "POST", f"{C}/customers", [
            *status(201), *schema("customer", CUSTOMER_SCHEMA),
            *header("Location", r"/customers/[0-9]+$"), *field_equals("state", '"PA"'),
            *field_equals("userId", 'pm.collectionVariables.get("userId")'),
            *remember("customerId", "pm.response.json().id"),
            *remember("customerEtag", 'pm.response.headers.get("ETag")'),
        ], body=CUSTOMER_BODY, prerequest=unique, headers=key),
        request("POST /customers retried with the same Idempotency-Key: the same 201", "POST",
                f"{C}/customers", [
                    *status(201), *header("Idempotent-Replayed", "^true$"),
                    *field_equals("id", 'pm.collectionVariables.get("customerId")'),
                ], body=CUSTOMER_BODY, headers=key,
                description="No second customer, no second event, no second welcome e-mail."),
        request("POST /customers again: 422", "POST", f"{C}/customers",
                error(422, "This user ID already exists in the system."), body=CUSTOMER_BODY),
        request("POST /customers with a bad state: 400", "POST", f"{C}/customers", [
            *error(400),
            'pm.test("names state", () => pm.expect(pm.response.json().errors'
            '.map(e => e.field)).to.include("state"));',
        ], body=CUSTOMER_BODY.replace('"pa"', '"XX"')),
        request("GET /customers/{id}", "GET", f"{C}/customers/{{{{customerId}}}}", [
            *status(200), *schema("customer", CUSTOMER_SCHEMA),
            *field_equals("address2", '"suite 1"'),
            'pm.test("the ETag of the 201", () => pm.expect(pm.response.headers.get("ETag"))'
            '.to.eql(pm.collectionVariables.get("customerEtag")));',
        ]),
        request("GET /customers/{id} with If-None-Match: 304", "GET",
                f"{C}/customers/{{{{customerId}}}}", [*status(304), *no_body()],
                headers={"If-None-Match": "{{customerEtag}}"}),
        request("PUT /customers/{id} with a stale If-Match: 412", "PUT",
                f"{C}/customers/{{{{customerId}}}}", error(412),
                body=CUSTOMER_BODY.replace("Post Man", "Nobody"),
                headers={"If-Match": '"00000000000000000000000000000000"'}),
        request("GET /customers/{id} as a mobile client: no address", "GET",
                f"{C}/customers/{{{{customerId}}}}",
                [*status(200), *schema("mobile customer", MOBILE_CUSTOMER_SCHEMA)],
                user_agent=MOBILE_UA),
        request("GET /customers?userId= with an unencoded +", "GET",
                f"{C}/customers?userId={{{{userId}}}}", [
                    *status(200), *schema("customer", CUSTOMER_SCHEMA),
                    *field_equals("id", 'pm.collectionVariables.get("customerId")'),
                ]),
        request("GET /customers?userId= with %2B, mobile", "GET",
                f"{C}/customers?userId={{{{userIdEncoded}}}}",
                [*status(200), *schema("mobile customer", MOBILE_CUSTOMER_SCHEMA)],
                user_agent=MOBILE_UA, prerequest=[
                    'pm.collectionVariables.set("userIdEncoded", '
                    'encodeURIComponent(pm.collectionVariables.get("userId")));']),
        request("GET /customers without userId: 400", "GET", f"{C}/customers", error(400)),
        request("GET /customers/abc: 400", "GET", f"{C}/customers/abc", error(400)),
        request("HEAD /customers/{id}", "HEAD", f"{C}/customers/{{{{customerId}}}}",
                [*status(200), *no_body()]),
        request("PUT /customers/{id} replaces the customer", "PUT",
                f"{C}/customers/{{{{customerId}}}}", [
                    *status(200), *schema("customer", CUSTOMER_SCHEMA),
                    *field_equals("name", '"Post Woman"'),
                    'pm.test("address2 cleared", () => '
                    'pm.expect(pm.response.json()).to.not.have.property("address2"));',
                ], body=CUSTOMER_BODY.replace("Post Man", "Post Woman")
                .replace('  "address2": "suite 1",\n', "")),
        request("PUT /customers/{id} unknown: 404", "PUT", f"{C}/customers/999999999999",
                error(404), body=CUSTOMER_BODY),
        request("DELETE /customers/{id}", "DELETE", f"{C}/customers/{{{{customerId}}}}",
                [*status(204), *no_body()]),
        request("GET /customers/{id} after DELETE: 404", "GET",
                f"{C}/customers/{{{{customerId}}}}", error(404)),
        request("DELETE /customers/{id} again: 404", "DELETE",
                f"{C}/customers/{{{{customerId}}}}", error(404)),
    ]
    return {"name": "Customers (Customer BFF)", "item": items}


def access() -> dict[str, Any]:
    challenge = header("WWW-Authenticate", "^Bearer")
    expired = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzdGFybG9yZCIsImlzcyI6ImNtdS5lZHUi"
               "LCJleHAiOjF9.invalid-signature")
    items = [
        request("No token: 401", "GET", f"{B}/books/{COURSE_ISBN}", [*error(401), *challenge],
                auth=None),
        request("A token with a bad signature: 401", "GET", f"{C}/customers/1",
                [*error(401), *challenge], auth=expired),
        request("A blank User-Agent: 400", "GET", f"{B}/books/{COURSE_ISBN}", error(400),
                user_agent=" "),
    ]
    return {"name": "Tokens and client type", "item": items}


def operations() -> dict[str, Any]:
    items = []
    for base, name in ((B, "Book BFF"), (C, "Customer BFF")):
        items += [
            request(f"{name}: GET /status", "GET", f"{base}/status", [
                *status(200), 'pm.test("OK", () => pm.expect(pm.response.text()).to.eql("OK"));',
                *header("Content-Type", "^text/plain"),
            ], auth=None),
            request(f"{name}: GET /ready", "GET", f"{base}/ready", [
                *status(200), *field_equals("status", '"ok"'),
            ], auth=None),
            request(f"{name}: GET /metrics", "GET", f"{base}/metrics", [
                *status(200), 'pm.test("Prometheus text", () => '
                'pm.expect(pm.response.text()).to.include("# TYPE"));',
            ], auth=None),
            request(f"{name}: GET /openapi.json", "GET", f"{base}/openapi.json", [
                *status(200), *field_equals("openapi", '"3.0.3"'),
            ]),
            request(f"{name}: GET /openapi.json without a token: 401", "GET",
                    f"{base}/openapi.json", error(401), auth=None),
            request(f"{name}: GET /docs", "GET", f"{base}/docs", [
                *status(200), *header("Content-Type", "^text/html"),
            ], auth=None),
        ]
    return {"name": "Operations", "item": items}


def collection() -> dict[str, Any]:
    every_answer = [
        'pm.test("X-Request-ID on every answer", () => '
        'pm.expect(pm.response.headers.get("X-Request-ID")).to.match(/^[A-Za-z0-9._:-]+$/));',
        'if (pm.response.code >= 400) { pm.test("errors are {message}", () => '
        'pm.expect(pm.response.json().message).to.be.a("string").and.not.empty); }',
    ]
    return {
        "info": {
            "_postman_id": "0b5e7f8c-6a51-4f36-9d5e-14b00c5a7e14",
            "name": "Bookstore API",
            "description": (
                "Every route of the Book BFF and the Customer BFF, desktop and mobile, with "
                "tests asserting the status codes and shapes of docs/API.md. Set `token` in "
                "the environment (`make run` prints one). Generated by scripts/postman.py."),
            "schema": SCHEMA_URL,
        },
        "auth": {"type": "bearer",
                 "bearer": [{"key": "token", "value": "{{token}}", "type": "string"}]},
        "event": [{"listen": "test",
                   "script": {"type": "text/javascript", "exec": every_answer}}],
        "variable": [{"key": name, "value": ""} for name in (
            "isbn", "bookKey", "bookCreated", "bookEtag", "userId", "userIdEncoded",
            "customerKey", "customerId", "customerEtag")],
        "item": [books(), customers(), access(), operations()],
    }


def environment() -> dict[str, Any]:
    return {
        "id": "5d0c2b7e-2a0f-4a57-8f55-9b1f3e7c2c11",
        "name": "Bookstore local (make run)",
        "values": [
            {"key": "bookBaseUrl", "value": "http://localhost:8080", "enabled": True},
            {"key": "customerBaseUrl", "value": "http://localhost:8081", "enabled": True},
            {"key": "token", "value": "", "type": "secret", "enabled": True},
        ],
        "_postman_variable_scope": "environment",
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="only compare: exit 1 when the files are out of date")
    args = parser.parse_args(argv)
    outputs = {COLLECTION: render(collection()), ENVIRONMENT: render(environment())}
    if args.check:
        stale = [p for p, text in outputs.items()
                 if not p.exists() or p.read_text(encoding="utf-8") != text]
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date: run python scripts/postman.py",
                  file=sys.stderr)
        return 1 if stale else 0
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for path, text in outputs.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
