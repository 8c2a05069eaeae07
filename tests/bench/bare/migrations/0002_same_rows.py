"""Copies of the tables a raise writes, for the same-rows comparator (tests/bench/bare/same_rows.py).

``LIKE ... INCLUDING ALL`` copies each table's columns, defaults, identity, indexes and unique and
check constraints as they stand after the apps' latest migrations; PostgreSQL never copies foreign
keys. PostgreSQL only, like the benchmark.
"""

from django.db import migrations


def _tables():  # type: ignore[no-untyped-def]
    from tests.bench.bare.same_rows import MODELS, copy_table

    return [(copy_table(model), model._meta.db_table) for model in MODELS]


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    quote = schema_editor.quote_name
    for copy, table in _tables():
        schema_editor.execute(f"CREATE TABLE {quote(copy)} (LIKE {quote(table)} INCLUDING ALL)")


def drop(apps, schema_editor):  # type: ignore[no-untyped-def]
    for copy, _ in _tables():
        schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(copy)}")


class Migration(migrations.Migration):
    dependencies = [
        ("bench_bare", "0001_initial"),
        ("concerns", "__latest__"),
        ("notifications", "__latest__"),
        ("oversight", "__latest__"),
    ]

    operations = [migrations.RunPython(create, drop)]
