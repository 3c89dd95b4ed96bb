"""A small English news-style NER corpus written for this project, as Label Studio tasks.

Sentences come from hand-written templates filled with invented names, organisations, places and
miscellaneous entities (PER, ORG, LOC, MISC). `make_tasks(n, seed)` is deterministic, so tests and benchmarks
that share a seed see the same tasks with exact character offsets. Some templates hold adjacent entities of
one type and some hold no entity at all.
"""

from __future__ import annotations

import random
import re

LABELS = ("PER", "ORG", "LOC", "MISC")
FROM_NAME, TO_NAME, VALUE_KEY = "label", "text", "text"


def label_config(labels) -> str:
    """An NER project's label config: one `<Labels>` control over `labels` on data["text"]."""
    return (
        '<View><Labels name="label" toName="text">'
        + "".join(f'<Label value="{label}"/>' for label in labels)
        + '</Labels><Text name="text" value="$text"/></View>'
    )


LABEL_CONFIG = label_config(LABELS)

PEOPLE = [
    "Marta Kovell",
    "Tomas Reinholt",
    "Ada Quenby",
    "Jonas Pettergill",
    "Lucia Ferrante",
    "Owen Marlowe",
    "Sanna Virtala",
    "Idris Okonkwe",
    "Helga Brandvik",
    "Rafael Soumet",
    "Nadia Orlenko",
    "Piet van Droom",
    "Chen Wenli",
    "Keiko Amarasu",
    "Dmitri Volkhin",
    "Grace Ellingham",
    "Mateo Quintal",
    "Ingrid Salvesen",
    "Yusuf Demirel",
    "Clara Beaumont",
    "Kwame Asantey",
    "Elena Marchetti",
    "Bruno Hallqvist",
    "Amira Haddadi",
    "Kovell",
    "Reinholt",
    "Quenby",
    "Marchetti",
    "Volkhin",
    "Beaumont",
]
ORGS = [
    "Norvane Bank",
    "Pellico Motors",
    "Greyfield University",
    "Aldous Group",
    "Tessaline Airways",
    "Corvid Systems",
    "the Baltic Grain Board",
    "Hollin & Ash",
    "Meridian Telecom",
    "Stellmark Insurance",
    "the Northern Rail Union",
    "Vantor Energy",
    "Quarry Hill Football Club",
    "the Ministry of Fisheries",
    "Ostmar Pharma",
    "Sable Ridge Capital",
    "the Coastal Health Authority",
    "Lumen Media",
    "Fenwick Steel",
    "the Council of Harbour Towns",
]
PLACES = [
    "Lisbon",
    "Port Alvar",
    "Ostrava",
    "Kenya",
    "the Sella Valley",
    "Bergen",
    "Nairobi",
    "Montevideo",
    "Lake Vorsa",
    "Cape Dunmore",
    "Quebec",
    "Tallinn",
    "Marrakesh",
    "New Harwick",
    "Sapporo",
    "the Red Coast",
    "Valparaiso",
    "Eastbridge",
    "Lyon",
    "Kraków",
    "Adelaide",
    "the Kessel Mountains",
    "Gdańsk",
    "Hamburg",
]
NATIONALITIES = [
    "Danish",
    "Brazilian",
    "Finnish",
    "Korean",
    "Portuguese",
    "Japanese",
    "Kenyan",
    "Irish",
    "Chilean",
    "Polish",
]
EVENTS = [
    "Euro Cup",
    "Tellmark Prize",
    "World Series",
    "Harvest Festival",
    "Autumn Open",
    "Marlin Trophy",
    "Northern Games",
    "Lantern Week",
    "Coastal Regatta",
    "Silver Cup",
]
# Slot name -> (label, pool). NAT and EVENT are both MISC: a nationality adjective or a named event.
POOLS = {
    "PER": ("PER", PEOPLE),
    "ORG": ("ORG", ORGS),
    "LOC": ("LOC", PLACES),
    "NAT": ("MISC", NATIONALITIES),
    "EVENT": ("MISC", EVENTS),
}

TEMPLATES = [
    "{PER} was named chief executive of {ORG} on Monday.",
    "{ORG} said on Tuesday it would cut 400 jobs at its plant in {LOC}.",
    "Shares in {ORG} fell 3 percent after {PER} resigned.",
    "The {NAT} team beat {LOC} 2-1 in the final of the {EVENT}.",
    "{PER} told reporters in {LOC} that talks with {ORG} had stalled.",
    "Heavy rain closed roads around {LOC} and {LOC2} for a second day.",
    "{ORG} and {ORG2} agreed to merge their freight businesses.",
    "Police in {LOC} arrested two men after a break-in at {ORG}.",
    "{PER} won the {EVENT} title after beating {PER2} in straight sets.",
    "The {NAT} government expects growth of 2.5 percent next year.",
    "Prices rose slightly in the third quarter, the statistics office said.",
    "Trading was quiet ahead of the long weekend.",
    "Officials said the bridge would reopen by the end of the month.",
    "{PER}, a spokesman for {ORG}, declined to comment.",
    "Flights from {LOC} to {LOC2} were delayed by fog on Friday.",
    "{ORG} reported a net profit of 12 million euros for the year.",
    "Scorers: {PER} 14, {PER2} 31, {PER3} 77.",
    "{PER} {PER2} and {PER3} joined the board of {ORG}.",
    "Visitors to {LOC} {LOC2} can expect long queues this summer.",
    "A {NAT} court in {LOC} fined {ORG} for breaking safety rules.",
    "{PER} said the {NAT} market was recovering faster than expected.",
    "The annual {EVENT} drew record crowds to {LOC}.",
    "{ORG} opened a research centre in {LOC} with 200 staff.",
    "Former minister {PER} will lead the inquiry into {ORG}.",
    "Farmers near {LOC} warned that the dry spell could hurt the harvest.",
    "The storm moved north overnight and weakened over the sea.",
    "Turnout was low in Sunday's local elections.",
    "{PER} of {LOC} set a national record in the 400 metres.",
    "{ORG} shares rose after the {NAT} regulator approved the deal.",
    "Talks between {ORG} and the {NAT} unions broke down late on Wednesday.",
    "{PER} and {PER2} met in {LOC} to discuss the border dispute.",
    "The {NAT} striker signed a three-year contract with {ORG}.",
    "{LOC} will host the {EVENT} next spring, organisers said.",
    "Inflation in {LOC} slowed to 4 percent in May.",
    "{PER} thanked voters in {LOC} after the result was announced.",
    "A fire at a warehouse owned by {ORG} was brought under control.",
    "The museum in {LOC} will display {NAT} paintings from the 1920s.",
    "{ORG} chief {PER} said demand from {LOC} remained strong.",
    "Two climbers were rescued from {LOC} after a night in the snow.",
    "The central bank left interest rates unchanged.",
]

_SLOT = re.compile(r"\{(PER|ORG|LOC|NAT|EVENT)(\d?)\}")


def _render(template: str, rng: random.Random) -> tuple[str, list[tuple[int, int, str]]]:
    """Fill `template`, returning the text and its (start, end, label) spans in characters."""
    text, spans, pos, used = "", [], 0, set()
    for m in _SLOT.finditer(template):
        text += template[pos : m.start()]
        label, pool = POOLS[m.group(1)]
        choice = rng.choice(pool)
        while choice in used:
            choice = rng.choice(pool)
        used.add(choice)
        # A leading "the" is a determiner, not part of the entity.
        lead = "the " if choice.startswith("the ") and not text.endswith(("The ", "the ")) else ""
        name = choice[4:] if choice.startswith("the ") else choice
        if text == "" and lead:
            lead = "The "
        text += lead
        spans.append((len(text), len(text) + len(name), label))
        text += name
        pos = m.end()
    text += template[pos:]
    return text, spans


def make_tasks(n: int, seed: int = 0, start_id: int = 1) -> list[dict]:
    """`n` Label Studio tasks, each with one annotation, deterministic in (n, seed)."""
    rng = random.Random(seed)
    tasks = []
    for i in range(n):
        template = TEMPLATES[rng.randrange(len(TEMPLATES))]
        text, spans = _render(template, rng)
        task_id = start_id + i
        result = [
            {
                "id": f"r{task_id}-{k}",
                "from_name": FROM_NAME,
                "to_name": TO_NAME,
                "type": "labels",
                "origin": "manual",
                "value": {"start": s, "end": e, "text": text[s:e], "labels": [label]},
            }
            for k, (s, e, label) in enumerate(spans)
        ]
        tasks.append(
            {
                "id": task_id,
                "data": {VALUE_KEY: text},
                "annotations": [
                    {
                        "id": 10_000 + task_id,
                        "result": result,
                        "was_cancelled": False,
                        "ground_truth": False,
                        "created_at": "2024-05-01T10:00:00.000000Z",
                        "updated_at": "2024-05-01T10:00:00.000000Z",
                    }
                ],
            }
        )
    return tasks


if __name__ == "__main__":
    for task in make_tasks(5, seed=0):
        print(
            task["data"]["text"],
            [(r["value"]["text"], r["value"]["labels"][0]) for r in task["annotations"][0]["result"]],
        )
