"""Generate the demo catalog and customer list (deterministic: same output on every run).

    python scripts/seed/generate.py            # rewrites books.json and customers.json here
    python scripts/seed/generate.py --check    # exit 1 if the committed files are stale

The files are committed; rerun this only when the generator changes.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SEED = 20240917
BOOK_COUNT = 240
CUSTOMER_COUNT = 220

# The ISBNs the course's graders and reference engine use; always in the catalog.
COURSE_BOOKS: list[dict[str, Any]] = [
    {
        "ISBN": "978-0-321-55268-6",
        "title": "Documenting Software Architectures: Views and Beyond",
        "Author": "Paul Clements, Felix Bachmann, Len Bass, David Garlan",
        "description": "How to capture an architecture in views that stakeholders can use, "
        "with templates for each view and guidance on reviewing the result.",
        "genre": "non-fiction",
        "price": 59.95,
        "quantity": 106,
    },
    {
        "ISBN": "978-0321815736",
        "title": "Software Architecture in Practice",
        "Author": "Len Bass, Paul Clements, Rick Kazman",
        "description": "Quality attributes, tactics and patterns: a practitioner's "
        "introduction to designing and evaluating software architectures.",
        "genre": "non-fiction",
        "price": 54.99,
        "quantity": 84,
    },
    {
        "ISBN": "9780133065107",
        "title": "Enterprise Integration Patterns",
        "Author": "Gregor Hohpe, Bobby Woolf",
        "description": "A catalog of sixty-five patterns for asynchronous messaging between "
        "applications, from message channels to routers and endpoints.",
        "genre": "non-fiction",
        "price": 64.99,
        "quantity": 42,
    },
    {
        "ISBN": "978-0395489321",
        "title": "The Lord of the Rings",
        "Author": "J. R. R. Tolkien",
        "description": "Frodo Baggins and the Fellowship set out to destroy the One Ring "
        "before the Dark Lord Sauron can reclaim it.",
        "genre": "fantasy",
        "price": 35,
        "quantity": 57,
    },
    {
        "ISBN": "978-0544174221",
        "title": "The Hobbit",
        "Author": "J. R. R. Tolkien",
        "description": "Bilbo Baggins is swept into a quest to reclaim the dwarves' "
        "treasure from the dragon Smaug.",
        "genre": "fantasy",
        "price": 14.99,
        "quantity": 230,
    },
]

GENRES = [
    "non-fiction",
    "fiction",
    "science fiction",
    "fantasy",
    "mystery",
    "biography",
    "history",
    "computer science",
    "poetry",
    "children",
]

FIRST_NAMES = [
    "Ada", "Alan", "Amara", "Beatriz", "Carlos", "Chen", "Dana", "Dmitri", "Elena", "Emeka",
    "Farah", "Grace", "Hana", "Ines", "Ivan", "Jamal", "Julia", "Kai", "Kenji", "Lena",
    "Lucia", "Marcus", "Mei", "Nadia", "Noah", "Olga", "Omar", "Priya", "Rafael", "Rosa",
    "Samir", "Sofia", "Tariq", "Thandiwe", "Tomas", "Uma", "Victor", "Wen", "Yara", "Zoe",
]
LAST_NAMES = [
    "Abara", "Almeida", "Bergstrom", "Castillo", "Delgado", "Eriksen", "Fontaine", "Garcia",
    "Haddad", "Ishikawa", "Jensen", "Kowalski", "Lindqvist", "Mbeki", "Moreau", "Nakamura",
    "Novak", "Okafor", "Petrov", "Quinn", "Rahman", "Rossi", "Sato", "Schmidt", "Silva",
    "Tanaka", "Torres", "Umarov", "Vargas", "Wagner", "Walsh", "Xu", "Yilmaz", "Zhang",
]

# Title vocabulary per genre: (templates, nouns, adjectives).
TITLE_TEMPLATES = {
    "non-fiction": ["The {adj} {noun}", "Why {noun} Matters", "{noun}: A Field Guide",
                    "Thinking About {noun}"],
    "fiction": ["The {adj} {noun}", "A {noun} in Winter", "The Last {noun}",
                "Letters from the {noun}"],
    "science fiction": ["The {noun} Protocol", "Beyond the {adj} {noun}", "{noun} Zero",
                        "The {adj} Orbit"],
    "fantasy": ["The {noun} of Ashes", "Crown of the {adj} {noun}", "The {noun}'s Oath",
                "Song of the {noun}"],
    "mystery": ["Death at the {noun}", "The {adj} Witness", "Murder on the {noun}",
                "The {noun} Affair"],
    "biography": ["A Life of {noun}", "The {adj} Years", "Becoming {noun}",
                  "{noun}: A Biography"],
    "history": ["The {noun} Wars", "Empire of {noun}", "The {adj} Century",
                "A History of the {noun}"],
    "computer science": ["Practical {noun}", "{noun} in Depth", "Designing {adj} {noun}",
                         "The Art of {noun}"],
    "poetry": ["Poems of the {noun}", "{adj} Hours", "The {noun} Sequence",
               "Small {noun}s"],
    "children": ["The {adj} {noun}", "Where the {noun} Sleeps", "Little {noun}",
                 "The {noun} Who Could"],
}
NOUNS = {
    "non-fiction": ["Habit", "Attention", "Money", "Memory", "Sleep", "Work", "Cities"],
    "fiction": ["Harbor", "Garden", "Lighthouse", "Orchard", "Station", "River", "House"],
    "science fiction": ["Nebula", "Signal", "Colony", "Horizon", "Singularity", "Drift"],
    "fantasy": ["Dragon", "Throne", "Witch", "Raven", "Forest", "Blade", "Tower"],
    "mystery": ["Vicarage", "Express", "Manor", "Quay", "Gallery", "Archive"],
    "biography": ["Marie Curie", "Frederick Douglass", "Ada Lovelace", "Nelson Mandela",
                  "Frida Kahlo", "Alan Turing"],
    "history": ["Silk", "Salt", "Steam", "Iron", "Spice", "Ocean", "Sugar"],
    "computer science": ["Distributed Systems", "Compilers", "Algorithms", "Databases",
                         "Microservices", "Cryptography", "Networks"],
    "poetry": ["Tide", "Lantern", "Sparrow", "Winter", "Salt", "Moon"],
    "children": ["Bear", "Moon", "Tugboat", "Dragon", "Giraffe", "Rabbit"],
}
ADJECTIVES = ["Silent", "Hidden", "Golden", "Broken", "Distant", "Quiet", "Restless",
              "Reliable", "Scalable", "Forgotten", "Bright", "Second", "Impossible"]
DESCRIPTION_OPENERS = {
    "non-fiction": "An accessible, well-researched look at {topic}",
    "fiction": "A quietly devastating novel about {topic}",
    "science fiction": "A fast-paced science fiction story about {topic}",
    "fantasy": "An epic fantasy of {topic}",
    "mystery": "A classic whodunit involving {topic}",
    "biography": "An intimate portrait of {topic}",
    "history": "A sweeping history of {topic}",
    "computer science": "A hands-on guide to {topic}",
    "poetry": "A collection of poems on {topic}",
    "children": "A picture book about {topic}",
}
DESCRIPTION_TOPICS = ["family and loss", "trust between strangers", "the cost of ambition",
                      "a small town with a long memory", "second chances",
                      "the people who keep systems running", "friendship across borders",
                      "what we owe the future"]
DESCRIPTION_CLOSERS = ["Includes notes and an index.", "Now in paperback.",
                       "A new edition with a foreword by the author.",
                       "Winner of several regional awards.", "For readers of all ages.",
                       "Perfect for a long weekend."]

US_STATES = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ",
    "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT",
    "VA", "WA", "WV", "WI", "WY", "DC", "PR",
]
CITIES = ["Springfield", "Riverside", "Franklin", "Greenville", "Fairview", "Madison",
          "Georgetown", "Clinton", "Salem", "Arlington", "Ashland", "Pittsburgh", "Oakland"]
STREETS = ["Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Forbes Ave", "Elm St", "Park Blvd",
           "Lakeview Rd", "Hillcrest Way", "2nd St"]
UNITS = ["Apt 2B", "Suite 100", "Unit 7", "Apt 14", "Floor 3", "PO Box 412"]


def isbn13(rng: random.Random, hyphenate: bool) -> str:
    """A random ISBN-13 with a correct check digit (978 prefix)."""
    digits = [9, 7, 8, *(rng.randrange(10) for _ in range(9))]
    total = sum(d * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits))
    digits.append((10 - total % 10) % 10)
    text = "".join(map(str, digits))
    if hyphenate:
        return f"{text[:3]}-{text[3]}-{text[4:8]}-{text[8:12]}-{text[12]}"
    return text


def price(rng: random.Random) -> float:
    cents = rng.randrange(499, 8999)
    # Mostly .99/.95 endings like a real store, some round and some arbitrary.
    ending = rng.choice([99, 95, 0, 50, cents % 100])
    value = Decimal(cents // 100) + Decimal(ending) / 100
    return float(value)


def generate_books(rng: random.Random) -> list[dict[str, Any]]:
    books: list[dict[str, Any]] = [dict(book) for book in COURSE_BOOKS]
    seen_isbns = {book["ISBN"] for book in books}
    seen_titles: set[str] = {book["title"] for book in books}
    while len(books) < BOOK_COUNT:
        genre = GENRES[len(books) % len(GENRES)]
        noun = rng.choice(NOUNS[genre])
        title = rng.choice(TITLE_TEMPLATES[genre]).format(adj=rng.choice(ADJECTIVES), noun=noun)
        if title in seen_titles:
            title = f"{title}, Volume {sum(t.startswith(title) for t in seen_titles) + 1}"
        isbn = isbn13(rng, hyphenate=rng.random() < 0.3)
        if isbn in seen_isbns:
            continue
        authors = [f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
                   for _ in range(1 if rng.random() < 0.8 else 2)]
        description = " ".join([
            DESCRIPTION_OPENERS[genre].format(topic=rng.choice(DESCRIPTION_TOPICS)) + ".",
            rng.choice(DESCRIPTION_CLOSERS),
        ])
        seen_isbns.add(isbn)
        seen_titles.add(title)
        books.append({
            "ISBN": isbn,
            "title": title,
            "Author": ", ".join(authors),
            "description": description,
            "genre": genre,
            "price": price(rng),
            "quantity": rng.choice([0, rng.randrange(1, 20), rng.randrange(20, 500)]),
        })
    return books


def generate_customers(rng: random.Random) -> list[dict[str, Any]]:
    customers: list[dict[str, Any]] = []
    seen_emails: set[str] = set()
    while len(customers) < CUSTOMER_COUNT:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        domain = rng.choice(["example.com", "example.org"])
        local = rng.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}{rng.randrange(99)}"])
        # A few plus-addresses exercise the `+` handling (`%2B` in query strings).
        if rng.random() < 0.05:
            local = f"{local}+books"
        email = f"{local.lower()}@{domain}"
        if email in seen_emails:
            continue
        seen_emails.add(email)
        customer: dict[str, Any] = {
            "userId": email,
            "name": f"{first} {last}",
            "phone": f"+1{rng.randrange(201, 989)}{rng.randrange(200, 999)}"
                     f"{rng.randrange(10000):04d}",
            "address": f"{rng.randrange(1, 9999)} {rng.choice(STREETS)}",
            "city": rng.choice(CITIES),
            "state": rng.choice(US_STATES),
            "zipcode": f"{rng.randrange(501, 99950):05d}",
        }
        if rng.random() < 0.3:
            customer["address2"] = rng.choice(UNITS)
        customers.append(customer)
    return customers


def render(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"


def outputs() -> dict[Path, str]:
    rng = random.Random(SEED)
    return {
        HERE / "books.json": render(generate_books(rng)),
        HERE / "customers.json": render(generate_customers(rng)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="only verify the committed files match the generator")
    args = parser.parse_args()
    stale = False
    for path, text in outputs().items():
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                print(f"{path.name} is stale: run python {Path(__file__).name}", file=sys.stderr)
                stale = True
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path} ({text.count(chr(10) + '  {')} rows)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
