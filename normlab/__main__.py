"""``python -m normlab claims [--chapter N]``: re-measure every claim of the book."""

import sys


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "claims":
        from normlab import claims

        return claims.main(rest)
    print(f"unknown command {cmd!r}. {__doc__.strip()}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
