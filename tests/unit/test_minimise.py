from sovgw.domain import dlp
from sovgw.domain.minimise import OMITTED, relevant_segments
from sovgw.domain.pseudonymise import PlaceholderTable, pseudonymise

KEYWORDS = ("liab", "terminat")


def test_short_text_is_untouched() -> None:
    assert relevant_segments("Short. Text.", 100, KEYWORDS) == "Short. Text."


def test_long_text_keeps_the_relevant_sentences_within_the_cap() -> None:
    filler = " ".join(f"Background paragraph number {i} about the office." for i in range(60))
    text = f"Contract for services. {filler} The supplier's liability is unlimited. {filler} Termination needs 2 years notice."
    cut = relevant_segments(text, 300, KEYWORDS)
    assert len(cut) <= 300
    assert cut.startswith("Contract for services.")
    assert "liability is unlimited" in cut and "Termination needs 2 years notice." in cut
    assert OMITTED.strip() in cut
    assert "number 30" not in cut


def test_a_single_huge_sentence_is_cut_hard_and_marked() -> None:
    cut = relevant_segments("x" * 10_000, 100, KEYWORDS)
    assert len(cut) <= 100 and cut.endswith(OMITTED.strip())


def test_placeholders_skip_what_the_text_already_holds() -> None:
    """A record that literally says "[EMAIL_1]" keeps it; the real address gets [EMAIL_2]."""
    text = "Template field [EMAIL_1]; claimant max.mueller@example.de."
    table = PlaceholderTable()
    table.reserve_literals(text)
    assert pseudonymise(text, dlp.detect(text), table) == (
        "Template field [EMAIL_1]; claimant [EMAIL_2]."
    )
    assert table.mapping == {"[EMAIL_2]": "max.mueller@example.de"}
