"""Command line: ``python -m aigc_course doctor``."""

import sys

from aigc_course.doctor import main as doctor

COMMANDS = {"doctor": doctor}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in COMMANDS:
        print(f"usage: python -m aigc_course {{{','.join(COMMANDS)}}}", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
