"""The starter knowledge base of a city: loaded by the demo loader and by tests."""

from __future__ import annotations

ARTICLES: list[dict[str, object]] = [
    {
        "title": "City Hall office hours",
        "category": "office_hours",
        "tags": ["hours", "opening", "city hall", "holidays"],
        "body": (
            "City Hall at 1 Civic Plaza is open Monday to Friday from 8:30 am to 5:00 pm, and on Thursdays "
            "until 7:00 pm. It is closed on weekends and public holidays. The Citizen Service Center on the "
            "ground floor handles ID cards, certificates, residence registration and payments; arrive at least "
            "30 minutes before closing. Phone lines (311) are staffed Monday to Saturday, 7:00 am to 9:00 pm."
        ),
    },
    {
        "title": "Building and renovation permits",
        "category": "permits",
        "tags": ["permit", "building", "renovation", "construction"],
        "body": (
            "You need a building permit for new construction, extensions, structural changes, new windows in "
            "facades and roofs, and for demolitions. Small interior renovations without structural work only "
            "need a notification. Apply online or at the Planning Department on the second floor of City Hall "
            "with site plans, drawings and the owner's consent. Standard permits are decided within 30 working "
            "days; the fee is 1% of the construction cost, at least 150."
        ),
    },
    {
        "title": "Event and street-use permits",
        "category": "permits",
        "tags": ["permit", "event", "street party", "scaffolding", "parking space"],
        "body": (
            "Street parties, markets, filming and scaffolding or containers on public ground need a street-use "
            "permit. Apply at least 4 weeks ahead (8 weeks for events over 500 people). Reserving parking "
            "spaces for a move costs 25 per space per day and must be requested 10 days before."
        ),
    },
    {
        "title": "Waste collection schedule",
        "category": "waste",
        "tags": ["garbage", "trash", "collection", "bins", "schedule"],
        "body": (
            "Household waste is collected once a week on your district's day: North on Monday, East on Tuesday, "
            "Center on Wednesday, West on Thursday and South on Friday. Put bins at the curb after 8 pm the "
            "evening before and before 6 am on collection day. When a public holiday falls on your day, "
            "collection moves to the next working day. Report a missed collection before noon the next day."
        ),
    },
    {
        "title": "Recycling and bulky waste",
        "category": "waste",
        "tags": ["recycling", "bulky waste", "furniture", "glass", "paper", "electronics"],
        "body": (
            "Paper and cardboard go in the blue bin, packaging in the yellow bin and glass in the public "
            "bottle banks (not between 10 pm and 7 am). Electronics, batteries, paint and chemicals go to the "
            "recycling center at 40 Depot Road, open Tuesday to Saturday 9 am to 6 pm. Bulky waste such as "
            "furniture and mattresses is collected for free twice a year; book a pickup online or by calling 311."
        ),
    },
    {
        "title": "Residential parking permits",
        "category": "parking",
        "tags": ["parking", "permit", "resident", "car", "fine"],
        "body": (
            "Residents of paid-parking zones can apply for a residential parking permit for 120 per year with "
            "proof of residence and the vehicle registration. Visitor permits cost 3 per day. Parking fines can "
            "be paid online within 14 days; to contest a fine, write to the Parking Office within 28 days with "
            "photos or receipts."
        ),
    },
    {
        "title": "Property tax and local taxes",
        "category": "taxes",
        "tags": ["tax", "property tax", "payment", "installments", "exemption"],
        "body": (
            "Property tax bills are sent in February and can be paid in one payment by March 31 or in four "
            "installments (March, June, September, December). Pensioners and low-income households may apply "
            "for a reduction until April 30. Payment is possible by direct debit, bank transfer or at the "
            "Citizen Service Center. Late payments incur interest of 0.5% per month."
        ),
    },
    {
        "title": "Parks, playgrounds and sports fields",
        "category": "parks",
        "tags": ["parks", "playground", "sports", "opening hours", "dogs"],
        "body": (
            "City parks are open from 6 am to 10 pm. Dogs must be kept on a leash except in marked dog zones. "
            "Barbecues are allowed only in designated areas from April to October. Sports fields can be booked "
            "by clubs and residents through the Sports Office. Report damaged playground equipment or fallen "
            "trees immediately as a concern in the category Parks and trees."
        ),
    },
    {
        "title": "Public libraries",
        "category": "libraries",
        "tags": ["library", "books", "card", "opening hours", "study"],
        "body": (
            "The Central Library is open Monday to Saturday from 9 am to 8 pm; neighbourhood branches open "
            "Tuesday to Saturday from 10 am to 6 pm. A library card is free for residents: bring an ID and "
            "proof of address. You can borrow up to 20 items for three weeks and renew online twice. Study "
            "rooms and free Wi-Fi are available at every branch."
        ),
    },
    {
        "title": "Noise rules and quiet hours",
        "category": "noise",
        "tags": ["noise", "quiet hours", "construction", "music", "neighbours"],
        "body": (
            "Quiet hours are from 10 pm to 7 am on weekdays and until 9 am on Sundays and public holidays. "
            "Construction work is allowed Monday to Friday 7 am to 7 pm and Saturday 8 am to 2 pm. For ongoing "
            "loud music or parties at night, contact the police non-emergency line; for repeated noise from "
            "businesses or construction outside permitted hours, report a concern in the category Noise."
        ),
    },
    {
        "title": "How to report a problem in your neighbourhood",
        "category": "reporting",
        "tags": ["report", "concern", "pothole", "street light", "tracking number"],
        "body": (
            "You can report potholes, broken street lights, overflowing bins, graffiti, water leaks and other "
            "problems in public space with the online form, through this assistant, or by calling 311. Give "
            "the exact location and a short description, and add photos if you can. You receive a tracking "
            "number such as TRK-2026-000123 to follow your report; you can stay anonymous. Emergencies that "
            "put people in danger must be reported to 112."
        ),
    },
    {
        "title": "Services for new residents",
        "category": "residents",
        "tags": ["new residents", "registration", "moving", "welcome"],
        "body": (
            "New residents must register their address at the Citizen Service Center within 14 days of moving "
            "in; bring your ID and the rental contract or a landlord's confirmation. After registering you can "
            "apply for a residential parking permit, a library card and waste bins, and enrol children in "
            "schools and childcare. A welcome pack with a city map and service overview is available at City Hall."
        ),
    },
    {
        "title": "Water supply, leaks and drainage",
        "category": "water",
        "tags": ["water", "leak", "pipe", "drain", "flooding", "bill"],
        "body": (
            "Report burst pipes, leaking hydrants and flooded streets immediately as a concern in the category "
            "Water and drainage or call the 24-hour water hotline. Leaks inside your home are the owner's "
            "responsibility. Water bills are sent every quarter; meter readings can be submitted online."
        ),
    },
]
