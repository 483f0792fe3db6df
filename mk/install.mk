# install.mk - make install, make uninstall, make man-check.
# Included at the end of the Makefile (BUILD and `all` come from there).
#
#   make install   [PREFIX=/usr/local] [DESTDIR=]
#   make uninstall [PREFIX=/usr/local] [DESTDIR=]
#   make man-check       every man page renders without a warning
#
# PREFIX is where the files will live when used; DESTDIR is prepended to
# every path only while copying (staging for packages, tests).  The unit
# file names $(SBINDIR)/retentionfs, so it is rewritten for PREFIX.
#
# `mount -t fuse.retentionfs` (and fstab) runs mount.fuse3, which starts
# `retentionfs` through /bin/sh without PATH from mount(8): the default
# search path of sh, /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:
# /sbin:/bin, must hold it.  PREFIX=/usr/local and PREFIX=/usr do.

PREFIX    ?= /usr/local
DESTDIR   ?=
SBINDIR   ?= $(PREFIX)/sbin
MANDIR    ?= $(PREFIX)/share/man
DOCDIR    ?= $(PREFIX)/share/doc/retentionfs
UNITDIR   ?= $(PREFIX)/lib/systemd/system
INSTALL   ?= install

RFS_BINS     = retentionfs retentionctl
RFS_MAN8     = man/retentionfs.8 man/retentionctl.8
RFS_MAN5     = man/retentionfs.conf.5
RFS_EXAMPLES = examples/sms.conf examples/syslog.conf examples/customers.conf \
	       packaging/retentionfs-applog.service packaging/fstab.example
RFS_DOCS     = README.md docs/recipes.md
RFS_UNIT     = retentionfs@.service

install: $(BUILD)/retentionfs $(BUILD)/retentionctl
	$(INSTALL) -d '$(DESTDIR)$(SBINDIR)' '$(DESTDIR)$(MANDIR)/man8' \
		'$(DESTDIR)$(MANDIR)/man5' '$(DESTDIR)$(DOCDIR)/examples' \
		'$(DESTDIR)$(UNITDIR)'
	$(INSTALL) -m 0755 $(addprefix $(BUILD)/,$(RFS_BINS)) '$(DESTDIR)$(SBINDIR)/'
	$(INSTALL) -m 0644 $(RFS_MAN8) '$(DESTDIR)$(MANDIR)/man8/'
	$(INSTALL) -m 0644 $(RFS_MAN5) '$(DESTDIR)$(MANDIR)/man5/'
	$(INSTALL) -m 0644 $(RFS_DOCS) '$(DESTDIR)$(DOCDIR)/'
	$(INSTALL) -m 0644 $(RFS_EXAMPLES) '$(DESTDIR)$(DOCDIR)/examples/'
	sed -e 's|/usr/local/sbin/|$(SBINDIR)/|g' packaging/$(RFS_UNIT) \
		>'$(DESTDIR)$(UNITDIR)/$(RFS_UNIT).tmp'
	chmod 0644 '$(DESTDIR)$(UNITDIR)/$(RFS_UNIT).tmp'
	mv -f '$(DESTDIR)$(UNITDIR)/$(RFS_UNIT).tmp' '$(DESTDIR)$(UNITDIR)/$(RFS_UNIT)'

uninstall:
	rm -f $(foreach f,$(RFS_BINS),'$(DESTDIR)$(SBINDIR)/$(f)') \
		$(foreach f,$(notdir $(RFS_MAN8)),'$(DESTDIR)$(MANDIR)/man8/$(f)') \
		$(foreach f,$(notdir $(RFS_MAN5)),'$(DESTDIR)$(MANDIR)/man5/$(f)') \
		$(foreach f,$(notdir $(RFS_DOCS)),'$(DESTDIR)$(DOCDIR)/$(f)') \
		$(foreach f,$(notdir $(RFS_EXAMPLES)),'$(DESTDIR)$(DOCDIR)/examples/$(f)') \
		'$(DESTDIR)$(UNITDIR)/$(RFS_UNIT)'
	-rmdir '$(DESTDIR)$(DOCDIR)/examples' '$(DESTDIR)$(DOCDIR)' 2>/dev/null

# man(1) prints nothing on stderr for a clean page; any line is a warning.
man-check:
	@fail=0; for m in $(RFS_MAN8) $(RFS_MAN5); do \
		out=$$(MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -E UTF-8 -l "$$m" 2>&1 >/dev/null); \
		if [ -n "$$out" ]; then echo "$$m:"; echo "$$out"; fail=1; \
		else echo "ok   $$m"; fi; \
	done; exit $$fail

.PHONY: install uninstall man-check
