"""manage.py soak ...: connect/disconnect cycles (the load generator's soak scenario)."""

from django.core.management.base import BaseCommand, CommandError

from bench import loadgen


class Command(BaseCommand):
    help = "Connect/disconnect cycles against a local server: RSS, fds, presence rows."

    def add_arguments(self, parser):
        loadgen.add_arguments(parser, scenario="soak")

    def handle(self, *args, **options):
        options["scenario"] = "soak"
        try:
            records = loadgen.run(options)
        except loadgen.BenchError as exc:
            raise CommandError(str(exc)) from exc
        for rec in records:
            self.stdout.write(
                f"cycles {rec['cycles']} ({rec['cycles_per_s']}/s), failed "
                f"{sum(rec['failures'].values())}, RSS growth {rec['rss_growth_pct']}%, "
                f"fds left {rec['fds_left']}, presence rows "
                f"{rec['presence_rows_after_close']}"
            )
