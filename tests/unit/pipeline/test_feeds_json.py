"""Shop JSON feeds: Shopify products.json and WooCommerce REST products."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pipeline.sources.feeds import FeedError, FeedItem, read_feed
from pipeline.sources.product import Money, Product


def feed(tmp_path: Path, data: Any, name: str = "feed.json") -> Path:
    """`data` written as JSON (a str is written as is) to a file in tmp_path."""
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False),
                    encoding="utf-8")
    return path


def shopify_product(**fields: Any) -> dict[str, Any]:
    """A products.json entry with sensible defaults."""
    return {"id": 101, "title": "Linen Shirt", "handle": "linen-shirt",
            "body_html": "<p>Breathable&nbsp;linen.</p><ul><li>Relaxed fit</li></ul>",
            "vendor": "Atelier", "product_type": "Shirts", "images": [], "variants": [],
            **fields}


def test_shopify_product_with_variants_images_and_sale(tmp_path: Path) -> None:
    """The cheapest variant in stock sets the prices; compare_at above it makes a sale."""
    product = shopify_product(
        images=[{"src": "https://cdn.shopify.example/b.jpg", "position": 2},
                {"src": "https://cdn.shopify.example/a.jpg", "position": 1},
                {"src": "https://cdn.shopify.example/a.jpg", "position": 3}],
        variants=[
            {"id": 1, "title": "S", "price": "39.00", "compare_at_price": None,
             "available": True},
            {"id": 2, "title": "M", "price": "19.00", "compare_at_price": "59.00",
             "available": False},
            {"id": 3, "title": "L", "price": "29.00", "compare_at_price": "49.00",
             "available": True}])
    path = feed(tmp_path, {"products": [product]})
    assert list(read_feed(path, currency="usd")) == [FeedItem("101", Product(
        id="101", title="Linen Shirt", description="Breathable linen.\nRelaxed fit",
        price=Money(Decimal("49.00"), "USD"), sale_price=Money(Decimal("29.00"), "USD"),
        images=("https://cdn.shopify.example/a.jpg", "https://cdn.shopify.example/b.jpg"),
        brand="Atelier"), title="Linen Shirt")]


def test_shopify_stock_from_inventory_and_a_bare_list(tmp_path: Path) -> None:
    """A bare list works; no stock left is skipped; no stock keys at all means in stock."""
    path = feed(tmp_path, [
        shopify_product(id=1, title="Sold out", variants=[
            {"id": 10, "price": "5.00", "inventory_quantity": 0,
             "inventory_management": "shopify"}]),
        shopify_product(id=2, title="Backorder ok", variants=[
            {"id": 20, "price": "5.00", "inventory_quantity": 0,
             "inventory_policy": "continue"}]),
        shopify_product(id=3, title="No stock data", variants=[{"id": 30, "price": "5.00"}]),
        shopify_product(id=None, handle="only-handle", title="Handle key", variants=[]),
    ])
    results = list(read_feed(path))
    assert [(r.key, r.status, r.reason) for r in results] == [
        ("1", "skipped", "out of stock"), ("2", "ok", ""), ("3", "ok", ""),
        ("only-handle", "ok", "")]
    assert results[3].product is not None and results[3].product.price is None


def test_shopify_broken_products_are_reported(tmp_path: Path) -> None:
    """A product without a title or with a wordy price is invalid; the rest still come out."""
    path = feed(tmp_path, {"products": [
        shopify_product(id=1, title=""),
        shopify_product(id=2, variants=[{"id": 7, "price": "free-ish"}]),
        "not a product",
        shopify_product(id=4, title="Fine"),
    ]})
    results = list(read_feed(path))
    assert [(r.key, r.status, r.reason) for r in results] == [
        ("item 1", "invalid", "item 1 (id 1): no title"),
        ("item 2", "invalid", "item 2 (id 2): variant 7 price 'free-ish' has no number"),
        ("item 3", "invalid", "item 3: not a JSON object"),
        ("4", "ok", ""),
    ]


def test_malformed_json_fails_with_its_position(tmp_path: Path) -> None:
    """Broken JSON fails the feed as invalid_feed naming line and column."""
    path = feed(tmp_path, '{"products": [\n {"id": 1,, "title": "x"}]}')
    with pytest.raises(FeedError) as caught:
        list(read_feed(path, format="shopify"))
    assert caught.value.code == "invalid_feed"
    assert "line 2" in caught.value.message


def woo(**fields: Any) -> dict[str, Any]:
    """A WooCommerce REST product with sensible defaults."""
    return {"id": 1, "name": "Pour-over Kettle", "slug": "kettle", "parent_id": 0,
            "permalink": "https://shop.example/product/kettle", "type": "simple",
            "status": "publish", "description": "", "short_description": "",
            "price": "", "regular_price": "", "sale_price": "", "stock_status": "instock",
            "images": [], "attributes": [], **fields}


def test_woocommerce_product_fields(tmp_path: Path) -> None:
    """Name, HTML description, prices, images, permalink and brand fill the Product."""
    path = feed(tmp_path, [woo(
        description="<p>Gooseneck &amp; thermometer.</p><p>Caf&eacute; grade.</p>",
        short_description="<p>Short.</p>", price="45.00", regular_price="60.00",
        sale_price="45.00", brands=[{"id": 3, "name": "Brewco"}],
        images=[{"src": "https://shop.example/k1.jpg"}, {"src": "https://shop.example/k2.jpg"}])])
    assert list(read_feed(path, currency="EUR")) == [FeedItem("1", Product(
        id="1", title="Pour-over Kettle", description="Gooseneck & thermometer.\nCafé grade.",
        price=Money(Decimal("60.00"), "EUR"), sale_price=Money(Decimal("45.00"), "EUR"),
        images=("https://shop.example/k1.jpg", "https://shop.example/k2.jpg"), brand="Brewco",
        link="https://shop.example/product/kettle"), title="Pour-over Kettle")]


def test_woocommerce_fallbacks_stock_and_status(tmp_path: Path) -> None:
    """Empty sale price means none; short description fills in; stock and drafts are judged."""
    path = feed(tmp_path, [
        woo(id=1, regular_price="10.00", price="10.00", short_description="<b>Tiny</b>",
            attributes=[{"name": "Brand", "options": ["Acme"]}]),
        woo(id=2, name="Gone", stock_status="outofstock"),
        woo(id=3, name="Later", stock_status="onbackorder"),
        woo(id=4, name="Secret", status="draft"),
    ])
    results = list(read_feed(path))
    assert [(r.key, r.status, r.reason) for r in results] == [
        ("1", "ok", ""), ("2", "skipped", "out of stock"), ("3", "ok", ""),
        ("4", "skipped", "not published (status draft)")]
    first = results[0].product
    assert first is not None
    assert (first.price, first.sale_price, first.description, first.brand) == (
        Money(Decimal("10.00"), ""), None, "Tiny", "Acme")


def test_woocommerce_variations_are_grouped_under_their_parent(tmp_path: Path) -> None:
    """A variable product and its three size variations come out as one product."""
    path = feed(tmp_path, [
        woo(id=50, name="Hoodie", type="variable", price="35.00",
            images=[{"src": "https://shop.example/h.jpg"}], description="Warm."),
        woo(id=9, name="Beanie", regular_price="12.00"),
        *[woo(id=51 + n, name="", parent_id=50, regular_price=price, price=price,
              stock_status=stock, attributes=[{"name": "Size", "option": size}],
              image={"src": f"https://shop.example/h-{size}.jpg"})
          for n, (size, price, stock) in enumerate([("S", "40.00", "instock"),
                                                    ("M", "30.00", "outofstock"),
                                                    ("L", "35.00", "instock")])],
    ])
    results = list(read_feed(path))
    assert [r.key for r in results] == ["9", "50"]
    grouped = results[1].product
    assert grouped == Product(
        id="50", title="Hoodie", description="Warm.", price=Money(Decimal("35.00"), ""),
        images=("https://shop.example/h.jpg", "https://shop.example/h-S.jpg",
                "https://shop.example/h-M.jpg", "https://shop.example/h-L.jpg"),
        link="https://shop.example/product/kettle", group_id="50")


def test_woocommerce_json_that_is_no_product_list_fails(tmp_path: Path) -> None:
    """A JSON object that holds no products is invalid_feed when forced to woocommerce."""
    with pytest.raises(FeedError) as caught:
        list(read_feed(feed(tmp_path, {"code": "rest_forbidden"}), format="woocommerce"))
    assert caught.value.code == "invalid_feed"
