"""The dashboard: server-rendered pages of the web role under `/ui`, signed in with an API token.

`session.py` keeps sign-ins (an opaque cookie naming a Redis record) and CSRF tokens;
`render.py` holds the pure pieces the templates use (hit marking, charts as SVG coordinates,
times); `pages.py` the routes, which call the same functions as the JSON API. The templates
and the one script and style sheet ship inside the package (`templates/`, `static/`): nothing
is fetched from elsewhere at run time.
"""
