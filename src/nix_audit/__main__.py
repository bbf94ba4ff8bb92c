"""``python -m nix_audit``: the same as the ``nix-audit`` command."""

from nix_audit.cli import main

if __name__ == "__main__":
    main()
