"""Product feeds (Google Merchant XML/TSV/CSV, Shopify, WooCommerce, any CSV with a mapping)
read as a stream of products, one per product or variant group, with unusable rows reported."""

from pipeline._exports import lazy_exports

__all__ = ["FEED_FORMATS", "FeedError", "FeedItem", "detect_format", "read_feed"]
__getattr__ = lazy_exports(__name__, {
    "FEED_FORMATS": "pipeline.sources.feeds.model", "FeedError": "pipeline.sources.feeds.model",
    "FeedItem": "pipeline.sources.feeds.model", "detect_format": "pipeline.sources.feeds.detect",
    "read_feed": "pipeline.sources.feeds.reader",
})
