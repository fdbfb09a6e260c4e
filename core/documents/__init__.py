"""Document reading for every server: PDF text and tables, page images, OCR, HTML to markdown,
charsets, inputs, and the host's worker pool (`ctx.documents`).
"""
