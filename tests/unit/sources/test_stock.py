"""Stock footage from Pexels and Pixabay: what the providers send and parse, and how
`choose_stock` picks one asset per scene (against fake APIs on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.sources.fetch import FetchLimits, fetch
from pipeline.sources.stock import (
    PexelsProvider,
    PixabayProvider,
    Rendition,
    SceneNeed,
    SceneStock,
    StockAsset,
    StockError,
    attribution,
    build_providers,
    choose_stock,
    credit_line,
    orientation_of,
    pick_rendition,
)
from tests.support.stock_servers import (
    PexelsServer,
    PixabayServer,
    pexels_server,
    pixabay_server,
)

WIDTH, HEIGHT = 1080, 1920  # a vertical preset
# The fetcher's default limits, but the fake servers' own address may be fetched from.
LOCAL = FetchLimits(allow_hosts=frozenset({"127.0.0.1"}))


@pytest.fixture
def pexels() -> Iterator[PexelsServer]:
    """A fake Pexels API."""
    with pexels_server() as server:
        yield server


@pytest.fixture
def pixabay() -> Iterator[PixabayServer]:
    """A fake Pixabay API."""
    with pixabay_server() as server:
        yield server


@pytest.fixture
def pexels_provider(pexels: PexelsServer) -> Iterator[PexelsProvider]:
    """A Pexels provider with the fake server's key, pointed at it."""
    with PexelsProvider(pexels.api_key, pexels.base_url, timeout=5.0) as provider:
        yield provider


@pytest.fixture
def pixabay_provider(pixabay: PixabayServer) -> Iterator[PixabayProvider]:
    """A Pixabay provider with the fake server's key, pointed at it."""
    with PixabayProvider(pixabay.api_key, pixabay.base_url, timeout=5.0) as provider:
        yield provider


class Downloads:
    """A `download` for choose_stock that records what it was asked for and hands out keys."""

    def __init__(self, refuse: Callable[[StockAsset], bool] = lambda asset: False) -> None:
        self.asked: list[tuple[str, str]] = []
        self.refuse = refuse

    def __call__(self, asset: StockAsset) -> str:
        self.asked.append(asset.ref)
        if self.refuse(asset):
            raise RuntimeError(f"refused {asset.asset_id}")
        return f"job/stock/{asset.provider}-{asset.asset_id}"


def need(*terms: str, seconds: float = 5.0, index: int = 0) -> SceneNeed:
    return SceneNeed(index=index, terms=terms, seconds=seconds)


# --- the providers ---------------------------------------------------------------------------

def test_pexels_video_search_sends_the_documented_request(
        pexels: PexelsServer, pexels_provider: PexelsProvider) -> None:
    """A clip search asks /videos/search with query, orientation, per_page, locale and the
    bare key in Authorization, and parses the video into an asset."""
    pexels.videos["strand"] = [pexels.video(11, 1080, 1920, 14, user="Jane Doe",
                                            sizes=((720, 1280), (1080, 1920), (2160, 3840)))]

    found = pexels_provider.search("strand", kind="clip", orientation="portrait",
                                   language="de", per_page=5)

    [seen] = pexels.api_requests()
    assert seen.path == "/videos/search"
    assert seen.query == {"query": "strand", "orientation": "portrait", "per_page": "5",
                          "locale": "de-DE", "size": "small"}
    assert seen.headers["Authorization"] == pexels.api_key  # no "Bearer"
    [asset] = found
    assert (asset.provider, asset.asset_id, asset.kind) == ("pexels", "11", "clip")
    assert (asset.width, asset.height, asset.duration) == (2160, 3840, 14.0)  # the largest
    assert asset.url.endswith("/files/pexels-11-2160x3840.mp4")
    assert [(r.width, r.height) for r in asset.renditions] == [(720, 1280), (1080, 1920),
                                                               (2160, 3840)]  # HLS left out
    assert (asset.page_url, asset.author, asset.author_url, asset.licence) == (
        "https://www.pexels.com/video/clip-11/", "Jane Doe", "https://www.pexels.com/@jane-doe",
        "Pexels License")


def test_pexels_photo_search_reads_src_sizes(pexels: PexelsServer,
                                             pexels_provider: PexelsProvider) -> None:
    """A still search asks /v1/search, and each `src` size is measured from its resizing
    parameters (large2x fits 1880x1300, portrait is cropped to 800x1200)."""
    pexels.photos["beach"] = [pexels.photo(21, 4000, 6000, photographer="John Roe")]

    [asset] = pexels_provider.search("beach", kind="still", orientation="portrait",
                                     language="en", per_page=200)

    [seen] = pexels.api_requests()
    assert seen.path == "/v1/search"
    assert seen.query["per_page"] == "80"  # Pexels' maximum
    assert seen.query["locale"] == "en-US"
    sizes = {r.url.rsplit("?", 1)[-1]: (r.width, r.height) for r in asset.renditions}
    assert (4000, 6000) in sizes.values()
    assert sizes["auto=compress&cs=tinysrgb&dpr=2&h=650&w=940"] == (867, 1300)
    assert sizes["auto=compress&cs=tinysrgb&fit=crop&h=1200&w=800"] == (800, 1200)
    assert (asset.kind, asset.duration, asset.author) == ("still", None, "John Roe")
    assert asset.author_url == "https://www.pexels.com/@john-roe"


def test_pexels_leaves_out_locale_it_does_not_know(
        pexels: PexelsServer, pexels_provider: PexelsProvider) -> None:
    """A language Pexels has no locale for is searched without one (its default)."""
    pexels_provider.search("sea", kind="clip", orientation="landscape", language="sw")

    assert "locale" not in pexels.api_requests()[0].query


def test_pixabay_image_search_sends_the_documented_request(
        pixabay: PixabayServer, pixabay_provider: PixabayProvider) -> None:
    """An image search asks / with key, q, lang, image_type, orientation=vertical, per_page
    and safesearch, and credits the user with their Pixabay profile."""
    pixabay.images["strand"] = [pixabay.image(31, 3000, 4500, user="ana", user_id=77)]

    [asset] = pixabay_provider.search("strand", kind="still", orientation="portrait",
                                      language="de", per_page=10)

    [seen] = pixabay.api_requests()
    assert seen.path == "/"
    assert seen.query == {"key": pixabay.api_key, "q": "strand", "lang": "de",
                          "image_type": "photo", "orientation": "vertical", "per_page": "10",
                          "safesearch": "true"}
    assert "authorization" not in {name.lower() for name in seen.headers}
    assert (asset.provider, asset.asset_id, asset.kind) == ("pixabay", "31", "still")
    assert (asset.width, asset.height) == (853, 1280)  # largeImageURL: at most 1280 px
    assert asset.url.endswith("_1280.jpg")
    assert (asset.page_url, asset.author, asset.author_url, asset.licence) == (
        "https://pixabay.com/photos/picture-31/", "ana", "https://pixabay.com/users/ana-77/",
        "Pixabay Content License")


def test_pixabay_video_search_skips_missing_sizes_and_clamps_per_page(
        pixabay: PixabayServer, pixabay_provider: PixabayProvider) -> None:
    """A video search asks /videos/ (no orientation filter exists there), sends per_page of
    at least 3 (Pixabay's minimum), and keeps only the sizes Pixabay has."""
    pixabay.videos["sea"] = [pixabay.video(41, 12, sizes={"medium": (1920, 1080),
                                                          "small": (1280, 720)})]

    [asset] = pixabay_provider.search("sea", kind="clip", orientation="landscape",
                                      language="en", per_page=1)

    [seen] = pixabay.api_requests()
    assert seen.path == "/videos/"
    assert seen.query["per_page"] == "3"
    assert "orientation" not in seen.query
    assert [(r.width, r.height) for r in asset.renditions] == [(1920, 1080), (1280, 720)]
    assert (asset.width, asset.height, asset.duration) == (1920, 1080, 12.0)


def test_pexels_bad_key_is_unauthorized_without_the_key(pexels: PexelsServer) -> None:
    """Pexels' 401 for a wrong key becomes stock_unauthorized, and the key is nowhere in it."""
    secret = "wrong-pexels-key-123"
    with PexelsProvider(secret, pexels.base_url, timeout=5.0) as provider:
        with pytest.raises(StockError) as caught:
            provider.search("sea", kind="clip", orientation="portrait", language="en")

    assert caught.value.code == "stock_unauthorized"
    assert not caught.value.retryable
    assert secret not in caught.value.message and secret not in str(caught.value)
    assert "Pexels" in caught.value.message
    assert secret not in repr(provider)


def test_pixabay_bad_key_answer_is_unauthorized_without_the_key(pixabay: PixabayServer) -> None:
    """Pixabay's 400 "[ERROR 400] Invalid or missing API key" becomes stock_unauthorized,
    and the key (sent in the query string) is nowhere in it."""
    secret = "wrong-pixabay-key-456"
    with PixabayProvider(secret, pixabay.base_url, timeout=5.0) as provider:
        with pytest.raises(StockError) as caught:
            provider.search("sea", kind="still", orientation="portrait", language="en")

    assert pixabay.api_requests()[0].query["key"] == secret
    assert caught.value.code == "stock_unauthorized"
    assert secret not in caught.value.message and secret not in str(caught.value)
    assert "Pixabay" in caught.value.message


@pytest.mark.parametrize("site", ["pexels", "pixabay"])
@pytest.mark.parametrize(("status", "code", "retryable"), [
    (429, "stock_rate_limited", True),
    (503, "stock_unavailable", True),
    (302, "stock_bad_response", False),
    (404, "stock_rejected", False),
])
def test_failed_answers_become_stock_errors(site: str, status: int, code: str, retryable: bool,
                                            pexels: PexelsServer, pixabay: PixabayServer,
                                            pexels_provider: PexelsProvider,
                                            pixabay_provider: PixabayProvider) -> None:
    """A 429 is stock_rate_limited, a 5xx stock_unavailable; a redirect is not followed (so
    the key never travels on); none of the messages carries the key."""
    server = pexels if site == "pexels" else pixabay
    provider = pexels_provider if site == "pexels" else pixabay_provider
    with pixabay_server() as elsewhere:
        server.force(status, b"echo " + server.api_key.encode(),
                     **({"Location": elsewhere.url("/steal")} if status == 302 else {}))
        with pytest.raises(StockError) as caught:
            provider.search("sea", kind="clip", orientation="portrait", language="en")
        assert elsewhere.requests == []
    assert caught.value.code == code
    assert caught.value.retryable is retryable
    assert server.api_key not in caught.value.message


def test_unreachable_site_is_unavailable() -> None:
    """A closed port is stock_unavailable, with the key kept out of the message."""
    with pixabay_server() as server:
        base = server.base_url  # the port closes when the block ends
    with PixabayProvider("closed-key-789", base, timeout=2.0) as provider:
        with pytest.raises(StockError) as caught:
            provider.search("sea", kind="still", orientation="portrait", language="en")
    assert caught.value.code == "stock_unavailable"
    assert "closed-key-789" not in caught.value.message


def test_build_providers_makes_one_per_key_pexels_first() -> None:
    """Providers are built for the keys that are set, in the order they are asked."""
    providers = build_providers(pexels_api_key="p", pixabay_api_key="x")
    try:
        assert [p.name for p in providers] == ["pexels", "pixabay"]
        assert [p.name for p in build_providers(pixabay_api_key="x")] == ["pixabay"]
        assert build_providers(pexels_api_key="", pixabay_api_key=None) == []
    finally:
        for provider in providers:
            provider.close()  # type: ignore[attr-defined]


# --- choosing per scene ----------------------------------------------------------------------

def test_scene_gets_a_fitting_clip_and_its_right_rendition(
        pexels: PexelsServer, pexels_provider: PexelsProvider) -> None:
    """The first fitting clip is downloaded at the smallest rendition covering the frame."""
    pexels.videos["beach"] = [pexels.video(11, 2160, 3840, 20,
                                           sizes=((720, 1280), (1080, 1920), (2160, 3840)))]
    downloads = Downloads()

    [scene] = choose_stock([need("beach", seconds=8)], [pexels_provider], language="en",
                           width=WIDTH, height=HEIGHT, download=downloads)

    assert scene.asset is not None and scene.key == "job/stock/pexels-11"
    assert (scene.asset.width, scene.asset.height) == (1080, 1920)
    assert scene.asset.url.endswith("/files/pexels-11-1080x1920.mp4")
    assert scene.term == "beach"
    assert scene.reason == "pexels clip 11 for 'beach': 1080x1920, 20 s"


def test_no_results_try_english_then_the_next_term_then_fall_back(
        pexels: PexelsServer, pixabay: PixabayServer, pexels_provider: PexelsProvider,
        pixabay_provider: PixabayProvider) -> None:
    """Each term is searched in the script's language, then in English, in every provider,
    clips before stills; with nothing anywhere the scene falls back, naming the terms."""
    downloads = Downloads()

    [scene] = choose_stock([need("strand", "meer")], [pexels_provider, pixabay_provider],
                           language="de", width=WIDTH, height=HEIGHT, download=downloads)

    assert (scene.asset, scene.key, scene.term) == (None, None, None)
    assert scene.reason == "no result for 'strand' or 'meer'; a generated background instead"
    assert [(r.path, r.query["query"], r.query["locale"]) for r in pexels.api_requests()] == [
        ("/videos/search", "strand", "de-DE"), ("/videos/search", "strand", "en-US"),
        ("/videos/search", "meer", "de-DE"), ("/videos/search", "meer", "en-US"),
        ("/v1/search", "strand", "de-DE"), ("/v1/search", "strand", "en-US"),
        ("/v1/search", "meer", "de-DE"), ("/v1/search", "meer", "en-US")]
    assert [(r.path, r.query["q"], r.query["lang"]) for r in pixabay.api_requests()][:4] == [
        ("/videos/", "strand", "de"), ("/videos/", "strand", "en"),
        ("/videos/", "meer", "de"), ("/videos/", "meer", "en")]
    assert downloads.asked == []


def test_english_search_finds_what_the_native_one_did_not(
        pexels: PexelsServer, pexels_provider: PexelsProvider) -> None:
    """A term with no result in the script's language is found by its English search, and
    the reason says so."""
    pexels.videos[("meer", "en-US")] = [pexels.video(12, 1080, 1920, 10)]

    [scene] = choose_stock([need("strand", "meer")], [pexels_provider], language="de",
                           width=WIDTH, height=HEIGHT, download=Downloads())

    assert scene.asset is not None and scene.asset.asset_id == "12"
    assert scene.term == "meer"
    assert "(searched in en)" in scene.reason


def test_wrong_orientation_is_passed_over_for_a_right_one(
        pixabay: PixabayServer, pixabay_provider: PixabayProvider) -> None:
    """A landscape clip listed first loses to a portrait one for a vertical frame."""
    pixabay.videos["city"] = [
        pixabay.video(51, 30, sizes={"large": (3840, 2160)}),
        pixabay.video(52, 30, sizes={"large": (2160, 3840), "medium": (1080, 1920)}),
    ]

    [scene] = choose_stock([need("city")], [pixabay_provider], language="en", width=WIDTH,
                           height=HEIGHT, download=Downloads())

    assert scene.asset is not None and scene.asset.asset_id == "52"
    assert (scene.asset.width, scene.asset.height) == (1080, 1920)


def test_wrong_orientation_is_used_when_nothing_else_exists(
        pixabay: PixabayServer, pixabay_provider: PixabayProvider) -> None:
    """With only a landscape clip (and no still), it is used, and the reason says why."""
    pixabay.videos["city"] = [pixabay.video(51, 30, sizes={"large": (3840, 2160),
                                                           "medium": (1920, 1080)})]

    [scene] = choose_stock([need("city")], [pixabay_provider], language="en", width=WIDTH,
                           height=HEIGHT, download=Downloads())

    assert scene.asset is not None and scene.asset.asset_id == "51"
    assert (scene.asset.width, scene.asset.height) == (3840, 2160)  # covers after cropping
    assert scene.reason == ("pixabay clip 51 for 'city': 3840x2160, 30 s; the closest there "
                            "was (landscape, not portrait)")
    assert [r.path for r in pixabay.api_requests()] == ["/videos/", "/"]


def test_short_clip_loses_to_a_long_enough_one(
        pexels: PexelsServer, pexels_provider: PexelsProvider) -> None:
    """A clip shorter than the scene is passed over for one that lasts it."""
    pexels.videos["run"] = [pexels.video(61, 1080, 1920, 4), pexels.video(62, 1080, 1920, 12)]

    [scene] = choose_stock([need("run", seconds=9)], [pexels_provider], language="en",
                           width=WIDTH, height=HEIGHT, download=Downloads())

    assert scene.asset is not None and scene.asset.asset_id == "62"


def test_a_still_is_taken_when_no_clip_fits_and_first_when_preferred(
        pexels: PexelsServer, pexels_provider: PexelsProvider) -> None:
    """With no clip, a fitting still is used; with prefer="still", stills are searched first."""
    pexels.photos["desk"] = [pexels.photo(71, 4000, 6000)]
    pexels.videos["desk"] = [pexels.video(72, 1080, 1920, 30)]

    [clip] = choose_stock([need("desk")], [pexels_provider], language="en", width=WIDTH,
                          height=HEIGHT, download=Downloads())
    pexels.videos.clear()
    [still] = choose_stock([need("desk")], [pexels_provider], language="en", width=WIDTH,
                           height=HEIGHT, download=Downloads())
    pexels.videos["desk"] = [pexels.video(72, 1080, 1920, 30)]
    [preferred] = choose_stock([need("desk")], [pexels_provider], language="en", width=WIDTH,
                               height=HEIGHT, download=Downloads(), prefer="still")

    assert clip.asset is not None and clip.asset.kind == "clip"
    assert still.asset is not None and still.asset.asset_id == "71"
    assert (still.asset.width, still.asset.height) == (4000, 6000)  # the only covering size
    assert preferred.asset is not None and preferred.asset.kind == "still"


def test_no_asset_is_used_twice_and_each_search_is_made_once(
        pexels: PexelsServer, pexels_provider: PexelsProvider) -> None:
    """Scenes with the same term get different assets, from one API call; when the results
    run out, the next scene falls back, saying why."""
    pexels.videos["coffee"] = [pexels.video(81, 1080, 1920, 30), pexels.video(82, 1080, 1920, 30)]
    needs = [need("coffee", index=i) for i in range(3)]

    scenes = choose_stock(needs, [pexels_provider], language="en", width=WIDTH, height=HEIGHT,
                          download=Downloads())

    assert [s.asset.asset_id if s.asset else None for s in scenes] == ["81", "82", None]
    assert scenes[2].reason == ("every result for 'coffee' is shown by an earlier scene or "
                                "could not be downloaded; a generated background instead")
    assert [r.path for r in pexels.api_requests()] == ["/videos/search", "/v1/search"]


def test_download_refused_for_a_redirect_to_a_private_address_takes_the_next(
        pexels: PexelsServer, pexels_provider: PexelsProvider, tmp_path: Path) -> None:
    """A file URL that redirects to 10.0.0.1 is refused by the safe fetcher; the next
    candidate is downloaded instead, and the refusal is in the reason."""
    bad, good = pexels.video(91, 1080, 1920, 30), pexels.video(92, 1080, 1920, 30)
    pexels.redirect(bad["video_files"][0]["link"], "http://10.0.0.1/x.mp4")
    pexels.videos["rain"] = [bad, good]

    def download(asset: StockAsset) -> str:
        fetched = fetch(asset.url, tmp_path / f"{asset.provider}-{asset.asset_id}.mp4", LOCAL)
        return f"job/stock/{fetched.path.name}"

    [scene] = choose_stock([need("rain")], [pexels_provider], language="en", width=WIDTH,
                           height=HEIGHT, download=download)

    assert scene.asset is not None and scene.asset.asset_id == "92"
    assert scene.key == "job/stock/pexels-92.mp4"
    assert (tmp_path / "pexels-92.mp4").exists() and not (tmp_path / "pexels-91.mp4").exists()
    assert "download refused for pexels clip 91:" in scene.reason
    assert "10.0.0.1" in scene.reason and "private address" in scene.reason


def test_download_refused_everywhere_falls_back_with_the_reason(
        pexels: PexelsServer, pexels_provider: PexelsProvider, tmp_path: Path) -> None:
    """When the only candidate's download is refused, the scene falls back and says why."""
    bad = pexels.video(93, 1080, 1920, 30)
    pexels.redirect(bad["video_files"][0]["link"], "http://10.0.0.1/x.mp4")
    pexels.videos["rain"] = [bad]

    def download(asset: StockAsset) -> str:
        return str(fetch(asset.url, tmp_path / "clip.mp4", LOCAL).path)

    [scene] = choose_stock([need("rain")], [pexels_provider], language="en", width=WIDTH,
                           height=HEIGHT, download=download)

    assert (scene.asset, scene.key) == (None, None)
    assert scene.reason.startswith("nothing usable for 'rain'; a generated background instead;"
                                   " download refused for pexels clip 93: ")
    assert "10.0.0.1" in scene.reason


def test_refused_key_stops_that_provider_for_the_video(
        pexels: PexelsServer, pixabay: PixabayServer,
        pixabay_provider: PixabayProvider) -> None:
    """After Pexels refuses the key, it is not asked again; Pixabay serves every scene, and
    the first scene's reason records the refusal."""
    pixabay.videos["sea"] = [pixabay.video(101, 30, sizes={"large": (1080, 1920)}),
                             pixabay.video(102, 30, sizes={"large": (1080, 1920)})]
    with PexelsProvider("revoked", pexels.base_url, timeout=5.0) as revoked:
        scenes = choose_stock([need("sea", index=0), need("sea", index=1)],
                              [revoked, pixabay_provider], language="en", width=WIDTH,
                              height=HEIGHT, download=Downloads())

    assert len(pexels.api_requests()) == 1
    assert [s.asset.asset_id if s.asset else None for s in scenes] == ["101", "102"]
    assert "stock_unauthorized" in scenes[0].reason
    assert "pexels is not asked again for this video" in scenes[0].reason
    assert "revoked" not in scenes[0].reason


def test_rate_limit_stops_the_provider_and_falls_back(
        pexels: PexelsServer, pexels_provider: PexelsProvider) -> None:
    """A 429 leaves the provider out for the rest of the video; the scenes fall back."""
    pexels.force(429)

    scenes = choose_stock([need("sea", "sun", index=0), need("sky", index=1)],
                          [pexels_provider], language="en", width=WIDTH, height=HEIGHT,
                          download=Downloads())

    assert len(pexels.api_requests()) == 1
    assert "stock_rate_limited" in scenes[0].reason
    assert scenes[1].reason.startswith("no stock provider left to ask for 'sky'")


def test_a_provider_failing_twice_is_left_out(pexels: PexelsServer,
                                             pexels_provider: PexelsProvider) -> None:
    """One 5xx may pass; after a second the provider is not asked again for the video."""
    pexels.force(503)

    [scene] = choose_stock([need("sea", "sun", "sky")], [pexels_provider], language="en",
                           width=WIDTH, height=HEIGHT, download=Downloads())

    assert len(pexels.api_requests()) == 2
    assert scene.reason.count("stock_unavailable") == 2
    assert scene.reason.endswith("pexels is not asked again for this video")


def test_searches_stop_at_the_budget(pexels: PexelsServer,
                                     pexels_provider: PexelsProvider) -> None:
    """However many scenes and terms find nothing, no more than max_searches calls go out."""
    needs = [need(f"term{i}", f"other{i}", index=i) for i in range(5)]

    scenes = choose_stock(needs, [pexels_provider], language="de", width=WIDTH, height=HEIGHT,
                          download=Downloads(), max_searches=6)

    assert len(pexels.api_requests()) == 6
    assert "stopped searching after 6 searches for this video" in scenes[-1].reason


def test_bad_arguments_are_refused() -> None:
    """An unknown preference or an empty frame is a programming error, said at once."""
    with pytest.raises(ValueError, match="prefer"):
        choose_stock([], [], language="en", width=WIDTH, height=HEIGHT, download=Downloads(),
                     prefer="gif")
    with pytest.raises(ValueError, match="width"):
        choose_stock([], [], language="en", width=0, height=HEIGHT, download=Downloads())


def test_scene_without_terms_or_providers_falls_back() -> None:
    """No terms, or no provider at all, gives a fallback that says so."""
    [no_terms] = choose_stock([need()], [], language="en", width=WIDTH, height=HEIGHT,
                              download=Downloads())
    [no_provider] = choose_stock([need("x")], [], language="en", width=WIDTH, height=HEIGHT,
                                 download=Downloads())
    assert no_terms.reason == "no search terms; a generated background instead"
    assert no_provider.reason == "no stock provider configured; a generated background instead"


# --- renditions, credits, records ------------------------------------------------------------

def _asset(*sizes: tuple[int, int], provider: str = "pexels", asset_id: str = "1",
           kind: str = "clip", author: str = "Jane Doe") -> StockAsset:
    renditions = tuple(Rendition(f"https://cdn.example/{w}x{h}.mp4", w, h) for w, h in sizes)
    return StockAsset(provider=provider, asset_id=asset_id, kind=kind, url="", width=0,
                      height=0, duration=10.0 if kind == "clip" else None,
                      page_url=f"https://{provider}.example/{asset_id}", author=author,
                      author_url=f"https://{provider}.example/@{author}",
                      licence="Pexels License", renditions=renditions)


@pytest.mark.parametrize(("sizes", "chosen"), [
    (((720, 1280), (1080, 1920), (2160, 3840)), (1080, 1920)),  # smallest covering
    (((3840, 2160), (1920, 1080), (1280, 720)), (3840, 2160)),  # covers only after a crop
    (((1920, 1080), (1280, 720)), (1920, 1080)),  # short side reaches the frame's
    (((640, 360), (960, 540)), (960, 540)),  # nothing big enough: the largest
])
def test_pick_rendition(sizes: tuple[tuple[int, int], ...], chosen: tuple[int, int]) -> None:
    """The rendition for a 1080x1920 frame: smallest covering, else short side, else largest."""
    picked = pick_rendition(_asset(*sizes), WIDTH, HEIGHT)
    assert (picked.width, picked.height) == chosen
    assert picked.url == f"https://cdn.example/{chosen[0]}x{chosen[1]}.mp4"


def test_orientation_of() -> None:
    """Taller than wide is portrait, equal is square, else landscape."""
    assert [orientation_of(9, 16), orientation_of(5, 5), orientation_of(16, 9)] == [
        "portrait", "square", "landscape"]


def test_credit_line_names_sites_and_authors_once_in_order() -> None:
    """Sites and authors appear once each, as first met; stills alone are "Photos"."""
    assets = [_asset(asset_id="1", author="Jane Doe"), None,
              _asset(asset_id="2", author="John Roe"), _asset(asset_id="3", author="Jane Doe"),
              _asset(provider="pixabay", asset_id="4", author="ana")]
    assert credit_line(assets) == "Footage: Pexels (Jane Doe, John Roe), Pixabay (ana)"
    assert credit_line([_asset(kind="still", author="")]) == "Photos: Pexels"
    assert credit_line([None]) == ""
    assert credit_line([]) == ""


def test_attribution_and_scene_records_round_trip() -> None:
    """attribution() keeps what the licence asks for; SceneStock survives JSON."""
    asset = _asset((1080, 1920), provider="pixabay", asset_id="9", author="ana")
    assert attribution(asset) == {
        "provider": "pixabay", "page_url": "https://pixabay.example/9", "author": "ana",
        "author_url": "https://pixabay.example/@ana", "licence": "Pexels License",
        "asset_id": "9", "kind": "clip"}
    scene = SceneStock(index=2, asset=asset, key="k", term="sea", reason="r")
    assert SceneStock.from_dict(scene.to_dict()) == scene
    empty = SceneStock(index=3, asset=None, key=None, term=None, reason="none")
    assert SceneStock.from_dict(empty.to_dict()) == empty
