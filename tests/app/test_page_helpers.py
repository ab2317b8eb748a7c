"""fer_core.app.page_helpers and charts: what the embedding view puts into HTML and plotly text is escaped."""

from html.parser import HTMLParser

import numpy as np

from fer_core.app.charts import embedding_figure
from fer_core.app.page_helpers import embedding_hover_texts, thumbnails_html

HOSTILE = 'ck:happy/x" onerror="alert(1)<script>alert(2)</script>.png'


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parsed(text):
    parser = Tags()
    parser.feed(text)
    return parser.tags


def test_thumbnail_titles_are_escaped_file_names():
    html = thumbnails_html(["data:image/png;base64,AAAA", "data:image/png;base64,BBBB"], [HOSTILE, "plain.png"])
    assert parsed(html) == [("img", {"src": "data:image/png;base64,AAAA", "title": HOSTILE, "width": "56"}),
                            ("img", {"src": "data:image/png;base64,BBBB", "title": "plain.png", "width": "56"})]
    assert "<script>" not in html and "onerror" not in [name for _, attrs in parsed(html) for name in attrs]


def test_hover_texts_escape_ids_labels_and_predictions():
    (text,) = embedding_hover_texts([HOSTILE], ["<b>happy</b>"], ["sad & co"])
    assert text.startswith("ck:happy/x&quot; onerror=&quot;alert(1)&lt;script&gt;")
    assert text.endswith("<br>label &lt;b&gt;happy&lt;/b&gt;<br>predicted sad &amp; co")
    assert [tag for tag, _ in parsed(text)] == ["br", "br"]  # the only markup: the line breaks
    assert embedding_hover_texts(["a"], ["happy"]) == ["a<br>label happy"]


def test_embedding_legend_names_are_escaped():
    figure = embedding_figure(np.zeros((2, 2)), np.array(["<i>odd</i>", "happy"]), ("happy", "<i>odd</i>"),
                              ["u1", "u2"], ["h1", "h2"])
    assert [trace.name for trace in figure.data] == ["happy", "&lt;i&gt;odd&lt;/i&gt;"]
