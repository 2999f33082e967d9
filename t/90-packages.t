#!/usr/bin/perl

# The Debian packages, end to end, on this machine's own nginx: built with
# dpkg-buildpackage from a clean copy of the tree, checked by lintian,
# installed with apt, the module enabled in /etc/nginx/modules-enabled (and
# kept disabled across an upgrade by an admin who disabled it); then the
# system's /usr/sbin/nginx serves the installed example site (HTTPS with a
# certificate made here, HTTP/2, the HTTP redirect, the rate limits) against
# a throwaway PostgreSQL migrated by the installed ticketsctl as an owner
# role, with nginx connecting as a role that may only read and write rows.
# At the end the packages are purged and nothing of them may be left.
#
# Needs root, dpkg-buildpackage, lintian, apt-get, curl and openssl; skipped
# otherwise, or when TICKETS_SKIP_PACKAGES is set.  It never starts, stops
# or reconfigures the system's nginx service, and leaves /etc/nginx as it
# found it.  (When that nginx runs, dpkg's nginx-reload trigger, which the
# module's postinst and postrm pull, reloads it at install and at removal:
# that is what installing any module package does.)  Runs one at a time per machine (a lock); packages of ours that
# are installed by someone else make it skip, those a killed run of it left
# behind are purged first.

use strict;
use warnings;

use Digest::MD5 ();
use Fcntl qw(:flock);
use File::Find ();
use File::Path qw(remove_tree make_path);
use File::Spec;
use File::Temp ();
use JSON::PP ();
use Test::More;
use Time::HiRes qw(time sleep);
use Tickets::Test;

my @PKGS   = qw(libnginx-mod-http-tickets libtickets0 libtickets-dev
                ngx-tickets);
my $MARK   = '/var/lib/ngx-tickets-package-test.installed';
my $LOCK   = '/run/lock/ngx-tickets-package-test.lock';
my $ENABLED = '/etc/nginx/modules-enabled/50-mod-http-tickets.conf';
my $SNIPPET = '/usr/share/nginx/modules-available/mod-http-tickets.conf';
my $EXAMPLE = '/usr/share/doc/ngx-tickets/examples/tickets-site.conf';
my $APT_LOCK = '-oDPkg::Lock::Timeout=600';

plan skip_all => 'TICKETS_SKIP_PACKAGES is set' if $ENV{TICKETS_SKIP_PACKAGES};
plan skip_all => 'installs packages: root only' if $> != 0;
for my $tool (qw(dpkg-buildpackage lintian apt-get dpkg curl openssl)) {
    plan skip_all => "$tool is not installed" unless have($tool);
}
plan skip_all => '/usr/sbin/nginx is not installed' unless -x '/usr/sbin/nginx';

my $root = Tickets::Test->root;
my ($version) = Tickets::Test::_slurp("$root/VERSION") =~ /(\S+)/;
my $json = JSON::PP->new->utf8;
my $t0 = time;

# builds of our own, not parts of the make that runs the tests
delete @ENV{qw(MAKEFLAGS MAKELEVEL MFLAGS MAKEOVERRIDES CFLAGS LDFLAGS
               CPPFLAGS)};
$ENV{DEBIAN_FRONTEND} = 'noninteractive';

open my $lock, '>', $LOCK or die "$LOCK: $!";
flock $lock, LOCK_EX or die "flock $LOCK: $!";

if (my @here = installed()) {
    plan skip_all => "@here installed on this machine: the test would"
        . " remove them" unless -e $MARK;
    diag "purging @here, left by an earlier run of this test";
    purge();
}

my $debs_beside  = [glob "$root/../*.deb"];
my $nginx_before = system_nginx_state();
my $etc_before   = etc_nginx_snapshot();

my $tmp = File::Temp::tempdir('tickets-packages-XXXXXX', CLEANUP => 0,
    DIR => $ENV{TEST_TMPDIR} // File::Spec->tmpdir);
chmod 0755, $tmp;
my ($pgdata, $nginx_pid_file);

$SIG{$_} = sub { exit 130 } for qw(INT TERM HUP);
END {
    my $status = $?;
    cleanup();
    $? = $status;
}


# Build from a clean copy -------------------------------------------------

my $src = "$tmp/build/ngx-tickets-$version";
make_path($src);
my @files = grep { -e "$root/$_" || -l "$root/$_" } split /\0/,
    qx{cd '$root' && git ls-files -z --cached --others --exclude-standard};
if (@files) {
    my ($rc, $out, $err) = Tickets::Test::run_cmd(['cp', '--parents', '-a',
        '-t', $src, @files], cwd => $root);
    die "cp: $err" if $rc;
} else {
    # not a git checkout: the tree without what builds and runs leave
    my ($rc, $out, $err) = Tickets::Test::run_cmd(['rsync', '-a',
        '--exclude=/build', '--exclude=/var', "$root/", "$src/"]);
    die "copy: $err" if $rc;
}
ok !-e "$src/build" && !-e "$src/var", 'a clean copy of the tree';

my $tb = time;
my ($rc, $out, $err) = Tickets::Test::run_cmd(['dpkg-buildpackage', '-us',
    '-uc', '-b'], cwd => $src);
is $rc, 0, 'dpkg-buildpackage -us -uc -b' or diag "$out$err";
diag sprintf 'packages built in %.1f s', time - $tb;

my %deb = map { $_ => "$tmp/build/${_}_${version}_" . arch() . '.deb' } @PKGS;
for (@PKGS) {
    ok -s $deb{$_}, "built $_" or BAIL_OUT("no $deb{$_}");
    diag sprintf '  %-32s %7d bytes', "$_.deb", -s $deb{$_};
}
is_deeply [glob "$root/../*.deb"], $debs_beside,
    'no .deb written next to the tree';

my $changes = "$tmp/build/ngx-tickets_${version}_" . arch() . '.changes';
($rc, $out, $err) = Tickets::Test::run_cmd(['lintian', '--fail-on', 'error',
    '--no-cfg', $changes]);
is $rc, 0, 'lintian: no errors' or diag "$out$err";
my @tags = grep { /^[EWI]: / } split /\n/, $out;
diag "lintian: $_" for @tags;
is scalar(grep { /^[EW]: / } @tags), 0, 'lintian: no warnings';

my %fields = map { $_ => scalar qx{dpkg-deb -f '$deb{$_}' Depends} } @PKGS;
like $fields{'libnginx-mod-http-tickets'}, qr/\bnginx-abi-1\.22\.1-7\b/,
    'the module depends on the nginx ABI it was built for';
like $fields{'libtickets-dev'}, qr/\blibtickets0 \(= \Q$version\E\)/,
    'libtickets-dev depends on libtickets0 of its version';


# Install -----------------------------------------------------------------

Tickets::Test::_spew($MARK, "$$\n");
($rc, $out, $err) = Tickets::Test::run_cmd(['apt-get', 'install', '-y', '-q',
    $APT_LOCK, '--no-install-recommends', map { $deb{$_} } @PKGS]);
is $rc, 0, 'apt-get install the four packages' or diag "$out$err";
is_deeply [installed()], [sort @PKGS], 'all four are installed';

my %list;
for my $p (@PKGS) {
    $list{$p} = [grep { length && $_ ne '/.' } split /\n/, qx{dpkg -L $p}];
}

is readlink($ENABLED), $SNIPPET,
    "enabled: $ENABLED -> $SNIPPET";
is Tickets::Test::_slurp($SNIPPET),
    "load_module modules/ngx_http_tickets_module.so;\n",
    'the snippet loads the module';
ok -f '/usr/lib/nginx/modules/ngx_http_tickets_module.so',
    'the module is in /usr/lib/nginx/modules';
ok -f "/usr/lib/" . multiarch() . "/libtickets.so.$version",
    'libtickets.so.0 is installed';
is qx{/usr/bin/ticketsctl --version}, "ticketsctl $version\n",
    'the installed ticketsctl --version';
ok -f '/usr/share/ngx-tickets/sql/001_schema.sql',
    'the migrations are in /usr/share/ngx-tickets/sql';
ok -f '/usr/share/man/man1/ticketsctl.1.gz', 'the man page';
ok -f $EXAMPLE, 'the example site';
($rc, $out, $err) = Tickets::Test::run_cmd(['man', '-l', '-Tutf8',
    '/usr/share/man/man1/ticketsctl.1.gz']);
like $out, qr/ticketsctl/, 'the man page renders' if have('man');

# An admin who disables the module keeps it disabled across an upgrade.
unlink $ENABLED or die "$ENABLED: $!";
($rc, $out, $err) = Tickets::Test::run_cmd(['apt-get', 'install', '-y', '-q',
    $APT_LOCK, '--reinstall', $deb{'libnginx-mod-http-tickets'}]);
is $rc, 0, 'upgrade (reinstall) of the module' or diag "$out$err";
ok !-e $ENABLED && !-l $ENABLED, 'a module the admin disabled stays disabled';
symlink $SNIPPET, $ENABLED or die "symlink $ENABLED: $!";


# PostgreSQL: an owner role migrates, the service role reads and writes ---

my $pg = "$tmp/pg";
mkdir $pg, 0755 or die "$pg: $!";
Tickets::Test::chown_postgres($pg);
$pgdata = "$pg/data";
my $pgport = Tickets::Test::free_port();
Tickets::Test::pg_init_cached($pgdata);
Tickets::Test::pg_start($pgdata, $pg, $pgport, "$pg/postgresql.log", 1);

sub psql {
    my ($db, $user, $sql) = @_;
    my ($rc, $out, $err) = Tickets::Test::run_cmd([
        "$Tickets::Test::PGBIN/psql", '-X', '-q', '-At', '-v',
        'ON_ERROR_STOP=1', '-h', $pg, '-p', $pgport, '-U', $user, '-d', $db,
        '-c', $sql]);
    die "psql $user: $sql\n$err" if $rc;
    return $out;
}

# "tickets" is the cluster's superuser (the harness's initdb)
psql('postgres', 'tickets', 'CREATE ROLE tickets_owner LOGIN');
psql('postgres', 'tickets', 'CREATE ROLE tickets_app LOGIN');
psql('postgres', 'tickets', 'CREATE DATABASE tickets OWNER tickets_owner');
psql('tickets', 'tickets', 'REVOKE ALL ON DATABASE tickets FROM PUBLIC;'
    . ' GRANT CONNECT, TEMPORARY ON DATABASE tickets TO tickets_app');

my $owner = "host=$pg port=$pgport dbname=tickets user=tickets_owner";
my $app   = "host=$pg port=$pgport dbname=tickets user=tickets_app";

# the installed ticketsctl, its default (installed) migrations: no ./sql
($rc, $out, $err) = Tickets::Test::run_cmd(['/usr/bin/ticketsctl', '-d',
    $owner, 'migrate'], cwd => $tmp);
like "$rc $out", qr/^0 \d+ migrations applied$/,
    'the installed ticketsctl migrates as the owner role' or diag $err;

# the grants of docs/deploy.md
psql('tickets', 'tickets_owner', <<'SQL');
GRANT USAGE ON SCHEMA public TO tickets_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public
    TO tickets_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO tickets_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO tickets_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO tickets_app;
SQL

($rc, $out, $err) = Tickets::Test::run_cmd(['/usr/bin/ticketsctl', '-d',
    $owner, 'load', "$root/sql/demo/demo.sql"]);
is $rc, 0, 'demo data loaded' or diag "$out$err";

is psql('tickets', 'tickets_app', 'SELECT count(*) FROM pg_tables t'
    . " WHERE schemaname = 'public' AND tableowner = 'tickets_app'"),
    "0\n", 'the service role owns no table';
eval { psql('tickets', 'tickets_app', 'CREATE TABLE intruder (x int)') };
like $@, qr/permission denied/, 'the service role cannot create tables';
($rc, $out, $err) = Tickets::Test::run_cmd(['/usr/bin/ticketsctl', '-d',
    $app, 'migrate'], cwd => $tmp);
ok $rc == 1 && $err =~ /permission denied/,
    'the service role cannot run ticketsctl migrate' or diag "$rc $out$err";


# The system's nginx with the installed example site ----------------------

my $d = "$tmp/nginx";
make_path("$d/tls");
# as Debian's /usr/share/nginx/modules: where "load_module modules/..." of
# the enabled snippet looks, relative to the prefix
symlink '/usr/lib/nginx/modules', "$d/modules" or die "symlink: $!";
my $https = Tickets::Test::free_port();
my $http  = Tickets::Test::free_port();
my $host  = 'helpdesk.example.com';

($rc, $out, $err) = Tickets::Test::run_cmd(['openssl', 'req', '-x509',
    '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', "/CN=$host",
    '-addext', "subjectAltName=DNS:$host", '-keyout', "$d/tls/key.pem",
    '-out', "$d/tls/cert.pem"]);
is $rc, 0, 'a self-signed certificate' or diag $err;
Tickets::Test::_spew("$d/jwt.secret", Tickets::Test::random_secret(48), 0600);

my $site = Tickets::Test::_slurp($EXAMPLE);
for my $s (
    [qr/^(\s*)listen 80;$/m,              "\$1listen 127.0.0.1:$http;"],
    [qr/^\s*listen \[::\]:80;\n/m,        ''],
    [qr/^(\s*)listen 443 ssl http2;$/m,   "\$1listen 127.0.0.1:$https ssl http2;"],
    [qr/^\s*listen \[::\]:443 ssl http2;\n/m, ''],
    [qr{/etc/nginx/tls/helpdesk\.pem},    "$d/tls/cert.pem"],
    [qr{/etc/nginx/tls/helpdesk\.key},    "$d/tls/key.pem"],
    [qr{(?<=tickets_db ")[^"]*},          $app],
    [qr{/etc/nginx/tickets/jwt\.secret},  "$d/jwt.secret"])
{
    my ($re, $to) = @$s;
    my $n = $site =~ s/$re/qq{"$to"}/gee;
    ok $n, "example site: $re";
}
Tickets::Test::_spew("$d/site.conf", $site);

# like Debian's nginx.conf: the modules of modules-enabled, then the site
my $user = "user root;\n";     # the test's files are root's
Tickets::Test::_spew("$d/nginx.conf", <<"EOF");
${user}worker_processes 2;
pid $d/nginx.pid;
error_log $d/error.log info;
include /etc/nginx/modules-enabled/*.conf;
thread_pool tickets threads=4;

events {
    worker_connections 512;
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log $d/access.log;
    client_body_temp_path $d/client_body_temp;
    proxy_temp_path $d/proxy_temp;
    fastcgi_temp_path $d/fastcgi_temp;
    uwsgi_temp_path $d/uwsgi_temp;
    scgi_temp_path $d/scgi_temp;

    include $d/site.conf;
}
EOF

my @nginx = ('/usr/sbin/nginx', '-p', "$d/", '-c', "$d/nginx.conf",
    '-e', "$d/error.log");
($rc, $out, $err) = Tickets::Test::run_cmd([@nginx, '-t']);
is $rc, 0, 'nginx -t' or diag "$out$err";
($rc, $out, $err) = Tickets::Test::run_cmd([@nginx]);
$nginx_pid_file = "$d/nginx.pid";
ok !$rc && Tickets::Test::wait_port($https, 10), 'the system nginx starts'
    or diag "$out$err\n" . Tickets::Test::_slurp("$d/error.log");

my @curl = ('curl', '-sS', '--http2', '--max-time', '20', '--cacert',
    "$d/tls/cert.pem", '--resolve', "$host:$https:127.0.0.1");
my $base = "https://$host:$https";

# (status, headers as a hash of lists, body, http version) of one call
sub call {
    my (@args) = @_;
    my ($rc, $out, $err) = Tickets::Test::run_cmd([@curl, '-i', '-w',
        '\n%{http_version}', @args]);
    return (0, {}, "curl: $err", '') if $rc;
    my ($ver) = $out =~ s/\n([\d.]+)\z//s ? ($1) : ('');
    my ($head, $body) = split /\r?\n\r?\n/, $out, 2;
    my ($status) = $head =~ m{^HTTP/[\d.]+ (\d+)};
    my %h;
    for (split /\r?\n/, $head) {
        push @{$h{lc $1}}, $2 if /^([^:\s]+):\s*(.*?)\s*$/;
    }
    return ($status // 0, \%h, $body // '', $ver);
}

my ($st, $h, $body, $ver) = call("$base/api/health");
is $st, 200, 'GET /api/health over TLS: 200';
is $ver, '2', 'HTTP/2';
is_deeply eval { $json->decode($body) }, { status => 'ok',
    version => $version }, 'health reports the version';
ok $h->{'strict-transport-security'}, 'HSTS';

($st, $h) = call('--resolve', "$host:$http:127.0.0.1",
    "http://$host:$http/api/health?x=1");
is $st, 308, 'plain HTTP: 308';
is $h->{location}[0], "https://$host/api/health?x=1", 'to https';

($st, $h, $body) = call('-d', 'username=admin&password=demo',
    "$base/api/auth/token");
is $st, 200, 'a token over HTTP/2 and TLS';
my $token = (eval { $json->decode($body) } // {})->{access_token} // '';
ok length $token, 'access_token';
my @auth = ('-H', "Authorization: Bearer $token");

($st, $h, $body) = call(@auth, '-F', 'Title=Printer on fire',
    '-F', 'Description=Smoke everywhere',
    '-F', 'CreatorId=00000000-0000-4000-a000-000000000005', '-F', 'SiteId=1',
    '-F', 'DepartmentId=1', '-F', 'TicketStatusId=1',
    '-F', 'TicketType=Incident', "$base/api/TicketsApi/register");
is $st, 201, 'register a ticket: 201 (as the service role)'
    or diag $body;
my ($loc) = ($h->{location}[0] // '') =~ m{(/api/TicketsApi/\d+)$}i;
ok $loc, 'its Location';
($st, $h, $body) = call(@auth, $base . ($loc // '/api/TicketsApi/0'));
is $st, 200, 'GET the new ticket';
is((eval { $json->decode($body) } // {})->{title}, 'Printer on fire',
    'its title');

($st) = call(@auth, "$base/API/TICKETSAPI/appmetadata");
is $st, 200, 'GET /API/TICKETSAPI/appmetadata: the location is'
    . ' case-insensitive';
($st, $h, $body) = call(@auth, "$base/API/nope");
is $st, 404, '404 under the API prefix';
like $h->{'content-type'}[0] // '', qr{^application/problem\+json},
    '... problem+json';
ok $h->{'x-request-id'}, '... with X-Request-Id';

# 150 requests on one HTTP/2 connection at once: over the per-client burst
my $out_dir = "$d/burst";
mkdir $out_dir;
($rc, $out, $err) = Tickets::Test::run_cmd([@curl, '--parallel',
    '--parallel-max', '150', '-i', '-o', "$out_dir/r#1",
    "$base/api/health?n=[1-150]"]);
my (%codes, $throttled);
for my $f (glob "$out_dir/r*") {
    my $r = Tickets::Test::_slurp($f);
    my ($code) = $r =~ m{^HTTP/[\d.]+ (\d+)};
    $codes{$code // 'none'}++;
    $throttled //= $r if ($code // 0) == 429;
}
diag 'burst: ' . join ', ', map { "$_ x $codes{$_}" } sort keys %codes;
ok $codes{429}, 'the rate limit answers 429';
ok $codes{200}, '... after the burst it allows';
my ($thead, $tbody) = split /\r?\n\r?\n/, $throttled // '', 2;
like $thead // '', qr{^content-type: application/problem\+json}mi,
    '429: problem+json';
is scalar(() = ($thead // '') =~ /^retry-after: \d+\s*$/mgi), 1,
    '429: one Retry-After';
like $thead // '', qr{^x-request-id: \S+}mi, '429: X-Request-Id';
is((eval { $json->decode($tbody // '') } // {})->{status}, 429,
    '429: the problem says 429');

my $log = Tickets::Test::_slurp("$d/error.log");
like $log, qr/\[notice\] .*ngx_http_tickets_module \Q$version\E$/m,
    'the module logs its version at startup';
my @bad = grep { /\[(alert|crit|emerg)\]/ } split /\n/, $log;
is_deeply \@bad, [], 'no alert in the error log';

stop_nginx();


# Remove and purge: nothing of the packages may be left -------------------

($rc, $out, $err) = Tickets::Test::run_cmd(['apt-get', 'purge', '-y', '-q',
    $APT_LOCK, @PKGS]);
is $rc, 0, 'apt-get purge' or diag "$out$err";
unlink $MARK if $rc == 0;
is_deeply [installed()], [], 'none of the packages is installed';
ok !-e $ENABLED && !-l $ENABLED && !-l "$ENABLED.removed",
    'no module link in /etc/nginx/modules-enabled';
my @left;
for my $p (@PKGS) {
    for my $path (@{$list{$p}}) {
        next unless -e $path || -l $path;
        # a directory may stay when another package has it too
        next if -d $path && !-l $path
            && system("dpkg -S '$path' >/dev/null 2>&1") == 0;
        push @left, $path;
    }
}
is_deeply \@left, [], 'nothing of the packages is left';
is_deeply system_nginx_state(), $nginx_before,
    "the system's nginx is as it was (running or not)";
is_deeply etc_nginx_snapshot(), $etc_before, '/etc/nginx is as it was';

diag sprintf 'package test: %.1f s', time - $t0;
done_testing;


# -------------------------------------------------------------------------

sub have { system("command -v '$_[0]' >/dev/null 2>&1") == 0 }

sub arch { chomp(my $a = qx{dpkg --print-architecture}); $a }

sub multiarch { chomp(my $a = qx{dpkg-architecture -qDEB_HOST_MULTIARCH}); $a }

# those of our packages dpkg has installed (or half-installed)
sub installed {
    my @here;
    for my $p (@PKGS) {
        my $s = qx{dpkg-query -W -f='\${db:Status-Abbrev}' $p 2>/dev/null};
        push @here, $p if $s =~ /^[a-z][^n]/;
    }
    return sort @here;
}

sub purge {
    my @here = installed();
    return 1 unless @here;
    my ($rc, $out, $err) = Tickets::Test::run_cmd(['apt-get', 'purge', '-y',
        '-q', $APT_LOCK, @here]);
    if ($rc) {
        ($rc, $out, $err) = Tickets::Test::run_cmd(['dpkg', '--purge',
            @here]);
    }
    diag "purge failed:\n$out$err" if $rc;
    unlink $MARK unless $rc;
    return !$rc;
}

# whether the system nginx runs: its pid file's process, and its master
sub system_nginx_state {
    my $pid = -e '/run/nginx.pid' ? Tickets::Test::_slurp('/run/nginx.pid')
                                  : '';
    $pid = $pid =~ /(\d+)/ ? $1 : 0;
    return { running => ($pid && kill(0, $pid)) ? 1 : 0, pid => $pid };
}

sub etc_nginx_snapshot {
    my %s;
    File::Find::find({ no_chdir => 1, wanted => sub {
        if (-l $_) {
            $s{$_} = 'l ' . readlink $_;
        } elsif (-f $_) {
            open my $fh, '<', $_ or return;
            $s{$_} = 'f ' . Digest::MD5->new->addfile($fh)->hexdigest;
        } else {
            $s{$_} = 'd';
        }
    } }, '/etc/nginx');
    return \%s;
}

sub stop_nginx {
    return unless $nginx_pid_file && -e $nginx_pid_file;
    Tickets::Test::nginx_stop_pid($nginx_pid_file);
    $nginx_pid_file = undef;
}

sub cleanup {
    stop_nginx();
    if ($pgdata && -e "$pgdata/postmaster.pid") {
        Tickets::Test::pg_stop($pgdata);
    }
    $pgdata = undef;
    if (-e $MARK) {
        purge();
        if (-l $ENABLED && !installed()) {
            unlink $ENABLED;
        }
    }
    if ($tmp && -d $tmp) {
        if ($ENV{TEST_KEEP}) {
            diag "kept $tmp";
        } else {
            remove_tree($tmp);
        }
    }
    $tmp = undef;
}
