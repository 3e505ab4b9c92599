"""The local web dashboard (`agentlog serve`), and the HTML pieces the report and replay share.

`create_app` lives in `agentlog.web.app`; this package imports nothing heavy, so the
report and the replay export can use the templates without loading the web server.
"""
