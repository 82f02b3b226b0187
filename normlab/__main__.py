"""The command line of normlab.

usage: python -m normlab claims [--chapter N] [--controls]
                                   re-measure every claim of the book (or one chapter's); with
                                   --controls, also check that each claim's control fails
       python -m normlab claims --help    the options of claims
       python -m normlab --version        print normlab's version
       python -m normlab --help           print this help

Exit status: 0 when every check passes, 1 when one fails, 2 for a usage error (an unknown
command or chapter).
"""

import sys


def usage() -> str:
    return __doc__.strip()


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        print(f"python -m normlab: a command is missing.\n\n{usage()}", file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from normlab import __version__

        print(f"normlab {__version__}")
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "claims":
        from normlab import claims

        return claims.main(rest)
    print(f"python -m normlab: unknown command {cmd!r}.\n\n{usage()}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
