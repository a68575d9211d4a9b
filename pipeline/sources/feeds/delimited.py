"""Delimited feeds: Merchant TSV and CSV, and any other CSV with a column mapping.

Rows are read from a text stream one at a time. They are numbered as a spreadsheet shows them
(the header is row 1), so a reason such as "row 17: no title" points at the line to fix.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

from pipeline.sources.feeds.fields import is_available, row_item, split_images
from pipeline.sources.feeds.merchant import attribute_name, merchant_item
from pipeline.sources.feeds.model import FeedError, FeedItem

# What a mapping may name, for a generic CSV: our field -> the user's column.
MAPPED_FIELDS = ("id", "title", "description", "price", "sale_price", "currency", "image",
                 "images", "brand", "link", "availability", "group_id")


def sniff_delimiter(header: str) -> str:
    """The delimiter a header line uses: a tab, else whichever of "," and ";" it has more of."""
    if "\t" in header:
        return "\t"
    return ";" if header.count(";") > header.count(",") else ","


def read_merchant_delimited(path: Path, *, delimiter: str | None = None,
                            currency: str = "") -> Iterator[FeedItem]:
    """Every row of a Merchant TSV or CSV feed; the header names Merchant attributes."""
    with _open(path) as stream:
        header, rows = _table(path, stream, delimiter)
        names = [attribute_name(column) for column in header]
        if "title" not in names:
            raise FeedError("invalid_feed", f"{path.name}: the header has no title column "
                            f"(columns: {', '.join(header)})")
        for where, cells in _checked(rows, len(header), names.index("title")):
            if isinstance(cells, FeedItem):
                yield cells
                continue
            values: dict[str, list[str]] = {}
            for name, cell in zip(names, cells, strict=True):
                values.setdefault(name, []).append(cell)
            yield merchant_item(where, values, currency=currency)


def read_mapped_csv(path: Path, *, mapping: Mapping[str, str] | None,
                    currency: str = "") -> Iterator[FeedItem]:
    """Every row of a CSV whose columns `mapping` assigns to our fields (title required)."""
    if not mapping:
        raise FeedError("bad_mapping", "format csv needs a mapping of our fields to columns, "
                        "e.g. {\"title\": \"Name\"}")
    unknown = sorted(set(mapping) - set(MAPPED_FIELDS))
    if unknown:
        raise FeedError("bad_mapping", f"unknown field {unknown[0]!r} in the mapping; fields: "
                        f"{', '.join(MAPPED_FIELDS)}")
    if not mapping.get("title"):
        raise FeedError("bad_mapping", "the mapping must name the title column")
    with _open(path) as stream:
        header, rows = _table(path, stream, None)
        # Column names are matched ignoring case and surrounding spaces: spreadsheets and the
        # people typing a mapping disagree on both.
        positions = {column.strip().casefold(): i for i, column in reversed(list(
            enumerate(header)))}
        index: dict[str, int] = {}
        for field, column in mapping.items():
            if column.strip().casefold() not in positions:
                raise FeedError("bad_mapping", f"column {column!r} (for {field}) is not in the "
                                f"header; columns: {', '.join(header)}")
            index[field] = positions[column.strip().casefold()]
        for where, cells in _checked(rows, len(header), index["title"]):
            if isinstance(cells, FeedItem):
                yield cells
                continue
            yield _mapped_item(where, {field: cells[i] for field, i in index.items()}, currency)


def _mapped_item(where: str, row: Mapping[str, str], currency: str) -> FeedItem:
    images = [row.get("image", "")] + split_images(row.get("images", ""))
    return row_item(
        where, id=row.get("id", "").strip(), title=row["title"],
        description=row.get("description", ""), link=row.get("link", ""),
        price=row.get("price"), sale_price=row.get("sale_price"),
        currency=row.get("currency", "").strip() or currency, images=images,
        brand=row.get("brand", ""), available=is_available(row.get("availability", "")),
        group_id=row.get("group_id", ""))


def _open(path: Path) -> IO[str]:
    # utf-8-sig drops a BOM when there is one; newline="" lets csv handle "\r\n" and line
    # breaks inside quoted cells itself.
    return path.open(encoding="utf-8-sig", newline="")


def _table(path: Path, stream: IO[str], delimiter: str | None
           ) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and the numbered rows after it."""
    try:
        first = stream.readline()
    except UnicodeDecodeError as error:
        raise FeedError("invalid_feed", f"{path.name}: not UTF-8 text ({error.reason})") from None
    reader = csv.reader(itertools.chain([first], stream),
                        delimiter=delimiter or sniff_delimiter(first))
    header = next(reader, [])
    if not any(column.strip() for column in header):
        raise FeedError("invalid_feed", f"{path.name}: no header row")
    return header, _numbered(path, reader)


def _numbered(path: Path, reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    number = 1
    while True:
        number += 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as error:
            raise FeedError("invalid_feed", f"{path.name}: row {number} is not UTF-8 text "
                            f"({error.reason})") from None
        except csv.Error as error:
            raise FeedError("invalid_feed", f"{path.name}: row {number}: {error}") from None
        yield number, row


def _checked(rows: Iterator[tuple[int, list[str]]], width: int, title_at: int
             ) -> Iterator[tuple[str, list[str] | FeedItem]]:
    """Rows with as many cells as the header, or an invalid item saying how many they have."""
    for number, cells in rows:
        if not any(cell.strip() for cell in cells):
            continue  # blank lines, often at the end of an export, are no rows
        # Spreadsheet exports pad rows with empty cells past the last column; that is harmless.
        while len(cells) > width and not cells[-1].strip():
            cells = cells[:-1]
        where = f"row {number}"
        if len(cells) != width:
            title = cells[title_at].strip() if title_at < len(cells) else ""
            yield where, FeedItem(where, None, "invalid", f"{where}: {len(cells)} columns, the "
                                  f"header has {width}", title)
            continue
        yield where, cells
