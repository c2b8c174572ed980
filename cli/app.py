"""The ``nwc`` command: a thin skin over nwcodec's Python API."""

import click

from cli.bench import bench
from cli.bitstream_cmds import info, strip
from cli.codec_cmds import decode, encode, tiers
from cli.common import NwcGroup
from cli.compare import compare
from cli.train_cmd import train


@click.group(cls=NwcGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nwcodec", prog_name="nwc")
def main() -> None:
    """nwcodec: neural speech and audio codec toolkit."""


main.add_command(encode)
main.add_command(decode)
main.add_command(tiers)
main.add_command(info)
main.add_command(strip)
main.add_command(train)
main.add_command(bench)
main.add_command(compare)
