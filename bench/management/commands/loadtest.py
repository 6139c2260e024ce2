"""manage.py loadtest SCENARIO ...: the load generator (bench/loadgen.py) inside Django."""

from django.core.management.base import BaseCommand, CommandError

from bench import loadgen


class Command(BaseCommand):
    help = "Run a load scenario (capacity, fanout, rooms, soak) against a local server."

    def add_arguments(self, parser):
        loadgen.add_arguments(parser)

    def handle(self, *args, **options):
        try:
            records = loadgen.run(options)
        except loadgen.BenchError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{len(records)} result record(s)")
