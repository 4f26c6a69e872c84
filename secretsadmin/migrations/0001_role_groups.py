"""Create the five role groups; their permissions are (re)applied after every migrate by roles.sync_roles."""
from django.db import migrations

ROLES = ["Viewer", "Operator", "Approver", "Auditor", "Administrator"]


def create_role_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.using(schema_editor.connection.alias).get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_role_groups, migrations.RunPython.noop)]
