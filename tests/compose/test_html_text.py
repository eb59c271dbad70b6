"""html_to_text: the plain-text half of an HTML message, as a reader sees it."""

import pytest

from webmail.compose.html_text import html_to_text


@pytest.mark.parametrize(
    "html, text",
    [
        ("<p>Eins</p><p>Zwei</p>", "Eins\n\nZwei"),
        ("Zeile eins<br>Zeile zwei<br/>Zeile drei", "Zeile eins\nZeile zwei\nZeile drei"),
        ("<div>Eins</div><div>Zwei</div>", "Eins\nZwei"),
        ("<p>  viel   \n  Leerraum  </p>", "viel Leerraum"),
        ("<h1>Titel</h1>Text", "Titel\n\nText"),
        ("<ul><li>eins</li><li>zwei<ul><li>tief</li></ul></li></ul>", "- eins\n- zwei\n  - tief"),
        ("<ol><li>erst</li><li>dann</li></ol>", "- erst\n- dann"),
        ('<a href="https://example.org/a">die Seite</a>', "die Seite <https://example.org/a>"),
        ('<a href="https://example.org/">https://example.org/</a>', "https://example.org/"),
        ('<a href="mailto:bob@example.net">bob@example.net</a>', "bob@example.net"),
        ('<a href="javascript:alert(1)">Klick</a>', "Klick"),
        ("<blockquote><p>Zitat</p></blockquote><p>Antwort</p>", "> Zitat\n\nAntwort"),
        (
            "<blockquote>außen<blockquote>innen</blockquote>wieder außen</blockquote>",
            "> außen\n>\n>> innen\n>\n> wieder außen",
        ),
        ("<pre>  eingerückt\n    mehr</pre>", "  eingerückt\n    mehr"),
        ("<style>p { color: red }</style><script>alert(1)</script><p>sichtbar</p>", "sichtbar"),
        ("<head><title>Titel</title></head><body>Text</body>", "Text"),
        ('<img src="x.png" alt="Logo"> Firma', "Logo Firma"),
        ("Gr&uuml;&szlig;e &amp; &lt;mehr&gt;&nbsp;!", "Grüße & <mehr> !"),
        ("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc"),
        ("", ""),
    ],
)
def test_it_turns_html_into_text(html, text):
    assert html_to_text(html) == text
