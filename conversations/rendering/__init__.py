"""Model and user text shown as safe HTML, in bounded work.

`markdown` renders a message (the bounds, the stored rendering), `streaming`
a reply while it grows, `mathml` its math, `highlighting` its code, and
`sanitizing` keeps only what may reach the page. Import the module you use.
"""
