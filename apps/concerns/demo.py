"""Demo concerns across the default categories, some already in progress or resolved.

Created through the services so they carry tracking numbers, timelines and events like real
ones. Idempotent: nothing happens once the demo concerns exist."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from apps.accounts.models import User
from apps.concerns import services
from apps.concerns.models import Category, Concern, Priority, Status


@dataclass(frozen=True)
class DemoConcern:
    category: str
    title: str
    description: str
    location: str
    latitude: float | None = None
    longitude: float | None = None
    priority: str = Priority.MEDIUM
    anonymous: bool = False
    by_citizen: bool = True
    # (status, message) steps applied by the demo staff member, in order
    progress: tuple[tuple[str, str], ...] = field(default_factory=tuple)


DEMO_CONCERNS = [
    DemoConcern(
        "roads",
        "Deep pothole on Elm Street",
        "A pothole about 40 cm wide in the right lane, just after the bus stop. Cyclists swerve into traffic.",
        "Elm Street 14, near the bus stop",
        52.37021,
        4.89517,
        Priority.HIGH,
        progress=((Status.IN_PROGRESS, "A road crew is scheduled for Thursday."),),
    ),
    DemoConcern(
        "street_lighting",
        "Street light out on Maple Avenue",
        "The lamp post in front of number 8 has been dark for a week; the footpath is pitch black at night.",
        "Maple Avenue 8",
        52.36810,
        4.90120,
        progress=(
            (Status.IN_PROGRESS, "Reported to the lighting contractor."),
            (Status.RESOLVED, "The lamp was replaced."),
        ),
    ),
    DemoConcern(
        "sanitation",
        "Overflowing bins at Central Park entrance",
        "Both bins at the north entrance are full and rubbish is blowing across the path.",
        "Central Park, north entrance",
        52.35790,
        4.86850,
        by_citizen=False,
    ),
    DemoConcern(
        "parks",
        "Fallen branch blocking playground",
        "A large branch came down in last night's storm and lies across the playground gate.",
        "Rose Garden playground",
        52.36010,
        4.87300,
        Priority.HIGH,
        progress=((Status.IN_PROGRESS, "Park maintenance is on the way."),),
    ),
    DemoConcern(
        "noise",
        "Construction noise before 7 am",
        "Building work on the corner site starts at 6 am every weekday, well before permitted hours.",
        "Corner of Oak Lane and Station Road",
        anonymous=True,
    ),
    DemoConcern(
        "water",
        "Water leaking from the pavement",
        "Clean water is bubbling up between the paving stones and running into the gutter.",
        "Harbour Street 31",
        52.37680,
        4.90400,
        Priority.EMERGENCY,
        progress=(
            (Status.IN_PROGRESS, "The water company has closed the valve."),
            (Status.RESOLVED, "The broken pipe was repaired."),
            (Status.CLOSED, "Pavement restored; closing this concern."),
        ),
    ),
    DemoConcern(
        "traffic",
        "Pedestrian signal stuck on red",
        "The pedestrian light at the school crossing never turns green; children cross on red.",
        "School crossing, Linden Road",
        52.36550,
        4.88210,
        Priority.HIGH,
    ),
    DemoConcern(
        "infrastructure",
        "Broken railing on the canal bridge",
        "Two bars of the railing on the east side of the bridge are missing.",
        "Canal bridge, Bridge Street",
        52.37240,
        4.89000,
        progress=((Status.IN_PROGRESS, "Temporary barrier placed; repair ordered."),),
    ),
    DemoConcern(
        "public_safety",
        "Open manhole cover on Market Square",
        "The cover of the manhole next to the fountain is missing; someone put a chair over it.",
        "Market Square, next to the fountain",
        52.37300,
        4.89300,
        Priority.EMERGENCY,
        by_citizen=False,
    ),
    DemoConcern(
        "sanitation",
        "Illegal dumping behind the supermarket",
        "Old mattresses and a fridge have been dumped in the alley behind the supermarket.",
        "Alley behind Mill Road supermarket",
        progress=(
            (Status.IN_PROGRESS, "Collection booked."),
            (Status.RESOLVED, "The items were collected."),
        ),
    ),
    DemoConcern(
        "roads",
        "Faded road markings at roundabout",
        "The lane markings on the roundabout are almost invisible, especially in the rain.",
        "Roundabout at Ring Road exit 3",
        52.38100,
        4.87000,
        Priority.LOW,
    ),
    DemoConcern(
        "other",
        "Graffiti on the library wall",
        "Fresh graffiti covers the side wall of the public library facing the square.",
        "Public library, Library Square",
        by_citizen=False,
    ),
]


def load(write: Callable[[str], None]) -> None:
    titles = [demo.title for demo in DEMO_CONCERNS]
    if Concern.all_objects.filter(title__in=titles).exists():
        write("  demo concerns already exist (skipped)")
        return
    categories = {category.code: category for category in Category.objects.all()}
    citizen = User.objects.filter(username="citizen").first()
    staff = User.objects.filter(username="staff").first()
    created = 0
    for demo in DEMO_CONCERNS:
        category = categories.get(demo.category) or categories.get("other")
        if category is None:
            write(f"  no category {demo.category!r}; skipped {demo.title!r}")
            continue
        submitter = citizen if demo.by_citizen else None
        concern = services.concern_create(
            title=demo.title,
            description=demo.description,
            category=category,
            priority=demo.priority,
            location=demo.location,
            latitude=demo.latitude,
            longitude=demo.longitude,
            contact={
                "name": submitter.get_full_name() if submitter else "Pat Passer-by",
                "email": submitter.email if submitter else "pat@example.org",
                "phone": "",
            },
            anonymous=demo.anonymous,
            submitted_by=submitter,
            source="web" if submitter else "api",
        )
        for step, (status, message) in enumerate(demo.progress):
            extra = {"assigned_to": staff} if step == 0 and staff is not None else {}
            services.concern_update(concern=concern, actor=staff, status=status, message=message, **extra)
        created += 1
        write(f"  {concern.tracking_number}  {concern.title}")
    write(f"  {created} demo concerns created")
