"""`python -m radlens ...` (also `torchrun -m radlens train ...`): the radlens CLI."""

from radlens.cli import entry

if __name__ == "__main__":
    entry()
