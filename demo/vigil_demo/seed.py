"""The demo shop's initial users and catalogue, and the function that stores them.

The users' plain-text passwords are kept here on purpose: the traffic generator imports
:data:`SEED_USERS` to log in as them. Only salted hashes go into the database.
"""

import sqlite3
from typing import NamedTuple

from vigil_demo.passwords import hash_password


class SeedUser(NamedTuple):
    """A user account the database starts with."""

    username: str
    password: str
    role: str
    """``customer`` or ``admin``."""


class SeedItem(NamedTuple):
    """A catalogue item the database starts with."""

    name: str
    description: str
    price: float
    stock: int


SEED_USERS: tuple[SeedUser, ...] = (
    SeedUser("alice", "wonderland-1865", "customer"),
    SeedUser("bob", "builder-can-we-fix-it", "customer"),
    SeedUser("carol", "winter-carol-77", "customer"),
    SeedUser("dave", "dave-rocks-2024", "customer"),
    SeedUser("erin", "erin-go-bragh", "customer"),
    SeedUser("frank", "frankly-my-dear", "customer"),
    SeedUser("grace", "hopper-cobol-59", "customer"),
    SeedUser("admin", "admin-correct-horse", "admin"),
)

SEED_ITEMS: tuple[SeedItem, ...] = (
    SeedItem("Stainless Steel Kettle", "1.7 l electric kettle with automatic shut-off", 39.90, 24),
    SeedItem("Gooseneck Pour-Over Kettle", "Stovetop kettle with a thin spout for filter coffee", 44.50, 9),
    SeedItem("French Press", "Borosilicate glass coffee press, 8 cups", 27.00, 31),
    SeedItem("Burr Coffee Grinder", "Conical burr grinder with 18 grind settings", 89.00, 7),
    SeedItem("Ceramic Pour-Over Dripper", "Single-cup coffee dripper for paper filters", 19.50, 40),
    SeedItem("Paper Coffee Filters", "Pack of 100 unbleached filters for pour-over drippers", 5.90, 120),
    SeedItem("Espresso Cups", "Set of four porcelain espresso cups with saucers", 24.00, 18),
    SeedItem("Enamel Camping Mug", "Lightweight enamel mug for coffee by the campfire", 12.50, 56),
    SeedItem("Loose Leaf Tea Infuser", "Stainless steel mesh infuser for teapots and mugs", 8.90, 73),
    SeedItem("Cast Iron Teapot", "Japanese-style cast iron teapot with infuser, 0.8 l", 49.00, 5),
    SeedItem("Chef's Knife", "20 cm forged stainless steel chef's knife", 69.00, 14),
    SeedItem("Bamboo Cutting Board", "Large bamboo cutting board with juice groove", 29.90, 22),
    SeedItem("Cast Iron Skillet", "Pre-seasoned 26 cm cast iron frying pan", 45.00, 11),
    SeedItem("Non-Stick Saucepan", "2 l saucepan with glass lid, induction ready", 34.50, 16),
    SeedItem("Dutch Oven", "Enamelled cast iron casserole, 5 l", 119.00, 3),
    SeedItem("Digital Kitchen Scale", "Kitchen scale weighing up to 5 kg in 1 g steps", 21.90, 35),
    SeedItem("Silicone Baking Mat", "Reusable non-stick mat for baking trays", 11.90, 48),
    SeedItem("Glass Food Storage Set", "Five glass containers with airtight lids", 32.00, 0),
    SeedItem("Wool Throw Blanket", "Merino wool blanket, 130 x 170 cm", 79.00, 12),
    SeedItem("Linen Cushion Cover", "Stonewashed linen cover for 50 cm cushions", 18.50, 44),
    SeedItem("Scented Soy Candle", "Hand-poured soy wax candle, cedar and fig", 16.00, 63),
    SeedItem("LED Desk Lamp", "Dimmable desk lamp with USB-C charging port", 54.00, 19),
    SeedItem("Ergonomic Office Chair", "Mesh office chair with adjustable lumbar support", 289.00, 4),
    SeedItem("Standing Desk Mat", "Anti-fatigue mat for standing desks", 39.00, 13),
    SeedItem("Wireless Keyboard", "Low-profile Bluetooth keyboard, UK layout", 59.90, 21),
    SeedItem("USB-C Cable", "Braided USB-C to USB-C cable, 2 m, 100 W", 14.90, 150),
    SeedItem("Notebook A5", "Dot-grid notebook with 192 numbered pages", 13.50, 88),
    SeedItem("Fountain Pen", "Steel-nib fountain pen with converter", 32.00, 10),
    SeedItem("Trail Running Shoes", "Lightweight trail shoes with a grippy outsole", 129.00, 8),
    SeedItem("Insulated Water Bottle", "Vacuum-insulated steel bottle, 750 ml", 29.00, 52),
    SeedItem("Hiking Backpack", "30 l daypack with rain cover", 94.00, 6),
    SeedItem("Headlamp", "Rechargeable 400 lumen headlamp", 36.00, 27),
    SeedItem("Camping Stove", "Compact gas stove for backpacking", 42.00, 0),
    SeedItem("Yoga Mat", "6 mm natural rubber yoga mat", 48.00, 15),
    SeedItem("Resistance Bands", "Set of five latex bands with carry bag", 19.90, 39),
    SeedItem("Houseplant Watering Can", "1 l brass-spout watering can for indoor plants", 23.50, 20),
)


def seed(cursor: sqlite3.Cursor) -> None:
    """Insert the seed users, with freshly salted password hashes, and the seed items."""
    cursor.executemany(
        "INSERT INTO users (username, password_hash, role) VALUES (?, ?, ?)",
        [(user.username, hash_password(user.password), user.role) for user in SEED_USERS],
    )
    cursor.executemany("INSERT INTO items (name, description, price, stock) VALUES (?, ?, ?, ?)", SEED_ITEMS)
