"""Default categories for a city, so `"category": "infrastructure"` works on a fresh
install, and on PostgreSQL the full-text index that `?q=` uses."""

from django.db import migrations

CATEGORIES = [
    ("infrastructure", "Infrastructure", "Public buildings, bridges, sidewalks and other city structures.",
     "Public works", ["sidewalk", "bridge", "building", "bench", "railing", "wall", "stairs"], 120),
    ("roads", "Roads and potholes", "Potholes, damaged road surfaces, road markings and curbs.",
     "Public works", ["pothole", "road", "asphalt", "crack", "curb", "street"], 72),
    ("street_lighting", "Street lighting", "Street lights that are out, flickering or damaged.",
     "Public works", ["light", "lamp", "streetlight", "dark", "bulb", "flickering"], 48),
    ("sanitation", "Sanitation and waste", "Missed collections, overflowing bins, illegal dumping, litter.",
     "Environment", ["trash", "garbage", "bin", "waste", "litter", "dumping", "recycling"], 48),
    ("parks", "Parks and trees", "Parks, playgrounds, fallen trees and overgrown green spaces.",
     "Environment", ["park", "tree", "playground", "grass", "branch", "bench"], 120),
    ("noise", "Noise", "Loud music, construction outside permitted hours, barking dogs.",
     "Community", ["noise", "loud", "music", "party", "barking", "construction"], 24),
    ("water", "Water and drainage", "Leaks, burst pipes, blocked drains, flooding, water quality.",
     "Utilities", ["water", "leak", "pipe", "drain", "flood", "sewer", "hydrant"], 24),
    ("traffic", "Traffic and signals", "Broken traffic signals, missing signs, dangerous crossings.",
     "Transport", ["traffic", "signal", "sign", "crossing", "speeding", "parking"], 48),
    ("public_safety", "Public safety", "Hazards to people: exposed wires, open manholes, unsafe structures.",
     "Community", ["danger", "hazard", "unsafe", "wire", "manhole", "safety"], 12),
    ("other", "Other", "Anything that fits no other category.", "General", [], 168),
]

ATTRIBUTES = {
    "street_lighting": [
        {"code": "pole_number", "datatype": "string", "required": False, "description": "Number on the pole, if visible"},
    ],
    "roads": [
        {"code": "size", "datatype": "singlevaluelist", "required": False, "description": "Size of the pothole",
         "values": [{"key": "small", "name": "Smaller than a plate"}, {"key": "medium", "name": "Up to a tyre"},
                    {"key": "large", "name": "Larger than a tyre"}]},
    ],
    "noise": [
        {"code": "ongoing", "datatype": "singlevaluelist", "required": False, "description": "Is it happening now?",
         "values": [{"key": "yes", "name": "Yes"}, {"key": "no", "name": "No"}]},
    ],
}

INDEX_SQL = (
    "CREATE INDEX IF NOT EXISTS concern_fulltext_idx ON concerns_concern USING gin "
    "(to_tsvector('english'::regconfig, COALESCE(title, '') || ' ' || COALESCE(description, '')))"
)


def create_categories(apps, schema_editor):
    Category = apps.get_model("concerns", "Category")
    for order, (code, name, description, group, keywords, sla) in enumerate(CATEGORIES):
        Category.objects.get_or_create(
            code=code,
            defaults={
                "name": name, "description": description, "group": group, "keywords": keywords,
                "sla_hours": sla, "sort_order": order, "attributes": ATTRIBUTES.get(code, []),
            },
        )


def create_search_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INDEX_SQL)


def drop_search_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS concern_fulltext_idx")


class Migration(migrations.Migration):
    dependencies = [("concerns", "0001_initial")]

    operations = [
        migrations.RunPython(create_categories, migrations.RunPython.noop),
        migrations.RunPython(create_search_index, drop_search_index),
    ]
