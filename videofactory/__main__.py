from videofactory.cli import main  # pragma: no cover - entry-point shim

main()  # pragma: no cover
