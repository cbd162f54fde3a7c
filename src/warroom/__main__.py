"""Allow `python -m warroom` so tests and systemd can start the CLI without the script shim."""

from warroom.main import main

main()
