package Tickets::Test;

# A small harness for the HTTP tests, in the spirit of nginx's Test::Nginx:
# each test file gets a throwaway PostgreSQL (migrated, demo data loaded)
# and an nginx with the tickets module in a temporary directory.
#
#   my $t = Tickets::Test->new(issuer => 'ngx_tickets')->run;
#   my $r = $t->http(GET => '/api/TicketsApi/1', token => $t->token('admin'));
#
# new(%opts) starts PostgreSQL; run(%opts) writes nginx.conf, checks it
# with nginx -t and starts nginx.  Then: http, form_post, multipart_post,
# token (an HS256 JWT crafted here), claims, ctl (build/ticketsctl), psql,
# rows, stop_pg/start_pg/restart_pg, stop_nginx, stop; and the assertions
# problem_ok (an RFC 9457 error) and ticket_ok (a TicketApiModel against
# the database).  DESTROY stops everything in the process that started it.
#
# Core Perl only, but for the OpenAPI check (JSON::Validator).  Set
# TEST_KEEP=1 to keep the directory after the run, TEST_TMPDIR to put it
# elsewhere than TMPDIR.  Every response of http() (so of form_post and
# multipart_post) is checked against docs/openapi.yaml (openapi_check):
# TEST_OPENAPI=0 turns that off, TEST_OPENAPI_LOG=file logs each check.

use strict;
use warnings;

use Cwd qw(abs_path);
use Digest::SHA qw(hmac_sha256 hmac_sha384 hmac_sha512);
use File::Basename qw(dirname);
use File::Path qw(remove_tree);
use File::Spec;
use File::Temp ();
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use POSIX ();
use Scalar::Util qw(weaken);
use Test::More ();
use Time::HiRes qw(sleep time);

our $ROOT   = abs_path(dirname(abs_path(__FILE__)) . '/../../..');
our $MODULE = $ENV{TEST_NGINX_MODULE}
    // "$ROOT/build/nginx/ngx_http_tickets_module.so";
our $CTL    = "$ROOT/build/ticketsctl";
our $NGINX  = $ENV{TEST_NGINX_BINARY}
    // (-x '/usr/sbin/nginx' ? '/usr/sbin/nginx' : 'nginx');
our $PGBIN  = $ENV{PG_BINDIR} // _find_pg_bindir();
our $JSON   = JSON::PP->new->utf8->canonical->allow_nonref;

# The client limits and timeouts docs/configuration.md recommends, for
# http_extra (client_max_body_size is the max_body option).
our $RECOMMENDED_LIMITS = <<'EOF';
    client_header_timeout 10s;
    client_body_timeout 10s;
    send_timeout 10s;
    keepalive_timeout 15s;
    keepalive_requests 1000;
    client_header_buffer_size 1k;
    large_client_header_buffers 4 16k;
    client_body_buffer_size 128k;
    reset_timedout_connection on;
    lingering_time 10s;
    lingering_timeout 5s;
EOF

my  %LIVE;          # instances of this process, stopped at END at the latest
my  $ALERTS = 0;    # alerts or crits nginx logged, fail the file at END


# Low-level helpers, also used by t/unit/run.pl and t/run-demo.pl ---------

sub _find_pg_bindir {
    my @dirs = sort { ($b =~ /(\d+)/)[0] <=> ($a =~ /(\d+)/)[0] }
        grep { -x "$_/initdb" } glob('/usr/lib/postgresql/*/bin');
    return $dirs[0] if @dirs;
    chomp(my $d = `pg_config --bindir 2>/dev/null` // '');
    return $d;
}

# Runs a command without a shell, its output kept in files so that nothing
# can block on a full pipe.  Returns (exit status, stdout, stderr).
sub run_cmd {
    my ($cmd, %o) = @_;
    my $out = File::Temp->new;
    my $err = File::Temp->new;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        chdir($o{cwd}) or POSIX::_exit(126) if defined $o{cwd};
        @ENV{keys %{$o{env}}} = values %{$o{env}} if $o{env};
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out->filename;
        open STDERR, '>', $err->filename;
        exec { $cmd->[0] } @$cmd or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    my $rc = $? & 127 ? 128 + ($? & 127) : $? >> 8;
    return ($rc, _slurp($out->filename), _slurp($err->filename));
}

sub _slurp {
    my ($file) = @_;
    open my $fh, '<:raw', $file or return '';
    local $/;
    my $s = <$fh>;
    return $s // '';
}

sub _spew {
    my ($file, $data, $mode) = @_;
    open my $fh, '>', $file or die "$file: $!";
    binmode $fh;
    print $fh $data;
    close $fh or die "$file: $!";
    chmod $mode, $file if defined $mode;
}

# PostgreSQL refuses to run as root: as root, run its tools as postgres.
sub as_postgres {
    my @cmd = @_;
    return $> == 0 ? ('runuser', '-u', 'postgres', '--', @cmd) : @cmd;
}

sub chown_postgres {
    my @paths = @_;
    return unless $> == 0;
    my (undef, undef, $uid, $gid) = getpwnam('postgres')
        or die "no user postgres\n";
    chown $uid, $gid, @paths or die "chown @paths: $!";
}

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
        Proto => 'tcp', Listen => 1, ReuseAddr => 1) or die "bind: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub wait_port {
    my ($port, $timeout) = @_;
    my $until = time + ($timeout // 10);
    while (time < $until) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $port, Proto => 'tcp', Timeout => 1);
        if ($s) { close $s; return 1 }
        sleep 0.05;
    }
    return 0;
}

# A random secret of printable characters: the module strips a trailing
# newline from the file, so raw random bytes could differ from ours.
sub random_secret {
    my ($len) = @_;
    open my $fh, '<:raw', '/dev/urandom' or die "/dev/urandom: $!";
    read $fh, my $bytes, $len or die "/dev/urandom: $!";
    (my $s = encode_base64($bytes, '')) =~ tr{+/}{-_};
    return substr $s, 0, $len;
}

sub pg_init {
    my ($data) = @_;
    my ($rc, $out, $err) = run_cmd([as_postgres("$PGBIN/initdb", '-D', $data,
        '-U', 'tickets', '--auth=trust', '-E', 'UTF8', '--locale=C', '-N')],
        cwd => dirname($data));
    die "initdb failed:\n$out$err" if $rc;
}

# initdb costs seconds, a copy of its result a fraction of one: the first
# test of a run leaves a pristine cluster in TMPDIR for the others (renamed
# into place whole, so parallel tests never see half of one).
sub pg_init_cached {
    my ($data) = @_;
    my (undef, $version) = run_cmd(["$PGBIN/initdb", '--version']);
    $version =~ s/[^\w.]+/_/g;
    my $cache = ($ENV{TEST_TMPDIR} // File::Spec->tmpdir)
        . "/tickets-test-initdb-$version-$>";
    unless (-e "$cache/PG_VERSION") {
        my $tmp = "$cache.$$";
        remove_tree($tmp);
        pg_init($tmp);
        remove_tree($tmp) unless rename $tmp, $cache;
    }
    my ($rc, $out, $err) = run_cmd(['cp', '-a', $cache, $data]);
    die "cp -a $cache $data: $err" if $rc;
}

# Starts the server on a unix socket in sockdir and on 127.0.0.1:port.
# fast: no fsync; 2: but commits still wait for their WAL to be written,
# so that a crash of PostgreSQL (not of the machine) loses no commit.
sub pg_start {
    my ($data, $sockdir, $port, $log, $fast) = @_;
    my $opts = "-k '$sockdir' -p $port -c listen_addresses=127.0.0.1"
        . ($fast ? ' -c fsync=off -c full_page_writes=off'
                   . ($fast == 2 ? '' : ' -c synchronous_commit=off')
                   . ' -c shared_buffers=16MB' : '');
    my ($rc, $out, $err) = run_cmd([as_postgres("$PGBIN/pg_ctl", 'start',
        '-w', '-t', '30', '-D', $data, '-l', $log, '-o', $opts)],
        cwd => dirname($data));
    die "pg_ctl start failed:\n$out$err\n--- $log:\n" . _slurp($log) if $rc;
}

sub pg_stop {
    my ($data) = @_;
    my ($rc, $out, $err) = run_cmd([as_postgres("$PGBIN/pg_ctl", 'stop',
        '-w', '-t', '30', '-m', 'fast', '-D', $data)], cwd => dirname($data));
    warn "pg_ctl stop failed:\n$out$err" if $rc;
    return !$rc;
}

# nginx.conf for the module.  p: prefix, port, db (conninfo), tickets_conf
# (the key directives), and optional workers, daemon, max_body, main_extra,
# http_extra, server_extra, listen_extra (e.g. " reuseport"), jobs (1: deliver the outbox and run the
# escalation job; off by default, so that no test sees them by surprise).
sub nginx_conf {
    my (%p) = @_;
    my $d = $p{prefix};
    my $user = $> == 0 ? "user root;\n" : '';
    my $daemon = $p{daemon} // 1 ? '' : "daemon off;\nmaster_process on;\n";
    return <<"EOF";
load_module $MODULE;
$user${daemon}worker_processes ${\($p{workers} // 2)};
pid $d/nginx.pid;
error_log $d/error.log info;
thread_pool tickets threads=4;
${\($p{main_extra} // '')}
events {
    worker_connections 1024;
}

http {
    log_format tickets '\$remote_addr [\$time_local] "\$request" \$status '
                       '\$body_bytes_sent \$request_time '
                       'rid=\$tickets_request_id';
    access_log $d/access.log tickets;
    client_body_temp_path $d/client_body_temp;
    proxy_temp_path $d/proxy_temp;
    fastcgi_temp_path $d/fastcgi_temp;
    uwsgi_temp_path $d/uwsgi_temp;
    scgi_temp_path $d/scgi_temp;
    client_max_body_size ${\($p{max_body} // '1m')};

    tickets_db "$p{db}";
    tickets_thread_pool tickets;
${\($p{jobs} ? '' : "    tickets_jobs off;\n")}$p{tickets_conf}
${\($p{http_extra} // '')}
    server {
        listen 127.0.0.1:$p{port}${\($p{listen_extra} // '')};
${\($p{server_extra} // '')}
        location ~* ^/api/ {
            tickets;
        }
    }
}
EOF
}

sub nginx_stop_pid {
    my ($pidfile) = @_;
    my $pid = _slurp($pidfile);
    return 1 unless $pid =~ /^(\d+)/;
    $pid = $1;
    kill 'TERM', $pid;
    for (1 .. 200) {
        return 1 unless _alive($pid);
        sleep 0.05;
    }
    kill 'KILL', $pid;
    return 0;
}

# A daemon is not our child and PID 1 may not reap it: a zombie is gone.
sub _alive {
    my ($pid) = @_;
    return 0 unless kill 0, $pid;
    my $stat = _slurp("/proc/$pid/stat");
    return $stat !~ /^\d+ \(.*\) Z/s;
}


# The instance ------------------------------------------------------------

# Options: issuer, audience, tickets_conf, workers, max_body, main_extra,
# http_extra, server_extra, jobs, nginx (0: PostgreSQL only), demo (0:
# schema only), pg_from (another instance: no PostgreSQL of its own, but
# that one's and its JWT secret, for a second nginx over one database),
# pg_crash_safe (1: PostgreSQL may be killed without losing a commit),
# expected_alerts (a regex of the alert lines that do not fail the file,
# e.g. the master's about a worker the test killed).
sub new {
    my ($class, %opts) = @_;
    my $from = delete $opts{pg_from};
    my $self = bless { opts => \%opts, owner => $$ }, $class;

    for ([$CTL, 'build/ticketsctl'],
         ($opts{nginx} // 1 ? [$MODULE, 'the module'] : ()))
    {
        next if -e $_->[0];
        Test::More::plan(skip_all => "$_->[1] is not built (make)")
            if $0 =~ /\.t$/;
        die "$_->[0] is not built (make)\n";
    }

    my $base = $ENV{TEST_TMPDIR} // File::Spec->tmpdir;
    $self->{dir} = File::Temp::tempdir('tickets-test-XXXXXX',
        DIR => $base, CLEANUP => 0);
    # PostgreSQL runs as postgres: every level must be traversable.
    chmod 0755, $self->{dir};
    for (my $p = $self->{dir}; $p ne '/'; $p = dirname($p)) {
        die "$p is not traversable by others; set TEST_TMPDIR\n"
            unless (stat $p)[2] & 01;
    }
    $LIVE{$self} = $self;
    weaken $LIVE{$self};
    _catch_signals();

    $self->{port}   = free_port();
    $self->{ua}     = HTTP::Tiny->new(timeout => 10, keep_alive => 0,
        max_redirect => 0, agent => 'tickets-test/1');

    if ($from) {
        # pg_running stays false: only $from stops its server
        $self->{$_} = $from->{$_} for qw(pgdata pgsock pglog pgport secret);
        return $self;
    }

    my $pg = "$self->{dir}/pg";
    mkdir $pg, 0755 or die "$pg: $!";
    chown_postgres($pg);
    $self->{pgdata} = "$pg/data";
    $self->{pgsock} = $pg;
    $self->{pglog}  = "$pg/postgresql.log";
    $self->{pgport} = free_port();
    $self->{secret} = "$self->{dir}/jwt.secret";

    pg_init_cached($self->{pgdata});
    $self->start_pg;
    $self->psql('CREATE DATABASE tickets', 'postgres');
    $self->_setup_db;

    _spew($self->{secret}, random_secret(48), 0600);
    # compiled now, not in the first request a test may be timing
    $self->openapi if ($ENV{TEST_OPENAPI} // 1) ne '0';
    return $self;
}

sub _setup_db {
    my ($self) = @_;
    $self->ctl_ok('migrate', "$ROOT/sql");
    $self->ctl_ok('load', "$ROOT/sql/demo/demo.sql")
        if $self->{opts}{demo} // 1;
}

sub dir      { $_[0]{dir} }
sub root     { $ROOT }
sub port     { $_[0]{port} }
sub pgport   { $_[0]{pgport} }
sub secret   { _slurp($_[0]{secret}) }
sub secret_file { $_[0]{secret} }
sub conninfo {
    my ($self) = @_;
    return "host=$self->{pgsock} port=$self->{pgport} dbname=tickets"
        . " user=tickets";
}

sub start_pg {
    my ($self) = @_;
    pg_start($self->{pgdata}, $self->{pgsock}, $self->{pgport},
        $self->{pglog}, $self->{opts}{pg_crash_safe} ? 2 : 1);
    $self->{pg_running} = 1;
    return $self;
}

sub stop_pg {
    my ($self) = @_;
    return $self unless $self->{pg_running};
    pg_stop($self->{pgdata});
    $self->{pg_running} = 0;
    return $self;
}

sub restart_pg { $_[0]->stop_pg->start_pg }

# The nginx.conf of this instance; %o overrides the options of new().
sub conf {
    my ($self, %o) = @_;
    my %opts = (%{$self->{opts}}, %o);
    my $keys = $opts{tickets_conf} // join '',
        "    tickets_jwt_key HS256 $self->{secret};\n",
        "    tickets_jwt_signing_key $self->{secret};\n",
        "    tickets_token_lifetime 1h;\n",
        ($opts{issuer} ? "    tickets_jwt_issuer $opts{issuer};\n" : ''),
        ($opts{audience} ? "    tickets_jwt_audience $opts{audience};\n" : '');
    # db: another tickets_db than this instance's own database
    return nginx_conf(%opts, prefix => $self->{dir}, port => $self->{port},
        db => $opts{db} // $self->conninfo, tickets_conf => $keys);
}

# nginx -t on the configuration: (ok, its output).
sub nginx_t {
    my ($self, %o) = @_;
    my $conf = "$self->{dir}/nginx.conf";
    _spew($conf, $self->conf(%o));
    my ($rc, $out, $err) = run_cmd([$NGINX, '-t', '-p', "$self->{dir}/",
        '-c', $conf, '-e', "$self->{dir}/error.log"],
        env => _nginx_env());
    return (!$rc, $out . $err);
}

# TEST_NGINX_PRELOAD: e.g. libasan, for a module built with ASan
sub _nginx_env {
    return $ENV{TEST_NGINX_PRELOAD}
        ? { LD_PRELOAD => $ENV{TEST_NGINX_PRELOAD} } : undef;
}

# Starts nginx (again, after stop_nginx or not): %o is kept over new()'s.
sub run {
    my ($self, %o) = @_;
    $self->stop_nginx;
    $self->{opts} = { %{$self->{opts}}, %o };
    my ($ok, $out) = $self->nginx_t;
    die "nginx -t failed:\n$out" unless $ok;

    my ($rc, $o1, $e1) = run_cmd([$NGINX, '-p', "$self->{dir}/", '-c',
        "$self->{dir}/nginx.conf", '-e', "$self->{dir}/error.log"],
        env => _nginx_env());
    $self->{nginx_running} = 1 unless $rc;
    if ($rc || !wait_port($self->{port}, 10)) {
        Test::More::diag("nginx did not start:\n$o1$e1\n--- error.log:\n"
            . _slurp("$self->{dir}/error.log"));
        die "nginx did not start\n";
    }
    return $self;
}

sub stop_nginx {
    my ($self) = @_;
    return $self unless $self->{nginx_running};
    nginx_stop_pid("$self->{dir}/nginx.pid");
    $self->{nginx_running} = 0;
    return $self;
}

sub stop {
    my ($self) = @_;
    $self->stop_nginx;
    $self->stop_pg;
    return $self;
}

sub error_log { _slurp("$_[0]{dir}/error.log") }

# Only the process that started the servers stops them: a forked child
# that exits must leave them alone.
sub DESTROY {
    my ($self) = @_;
    return unless $self->{owner} && $self->{owner} == $$;
    local ($!, $@);
    delete $LIVE{$self};
    $self->_openapi_child_failures;
    $self->stop;
    # As in nginx's own suite: an alert or a crash fails the file.
    my $ok = $self->{opts}{expected_alerts};
    my @alerts = grep { /\[(alert|crit)\]/ && !($ok && /$ok/) }
        split /\n/, (-e "$self->{dir}/error.log" ? $self->error_log : '');
    if (@alerts) {
        Test::More::diag("nginx logged:\n" . join("\n", @alerts));
        $ALERTS++;
    }
    if ($ENV{TEST_KEEP}) {
        Test::More::diag("kept $self->{dir}");
    } else {
        remove_tree($self->{dir});
    }
    $self->{owner} = 0;
}

END {
    my $status = $?;
    $_ && $_->DESTROY for values %LIVE;
    $? = $status || ($ALERTS ? 3 : 0);
}

# Ctrl-C must still run END and DESTROY, or servers are left behind.
sub _catch_signals {
    for my $sig (qw(INT TERM HUP)) {
        $SIG{$sig} = sub { exit 130 }
            if !$SIG{$sig} || $SIG{$sig} eq 'DEFAULT';
    }
}


# Tools -------------------------------------------------------------------

# build/ticketsctl with this database: (exit status, stdout, stderr).
sub ctl {
    my ($self, @args) = @_;
    return run_cmd([$CTL, '-d', $self->conninfo, @args]);
}

sub ctl_ok {
    my ($self, @args) = @_;
    my ($rc, $out, $err) = $self->ctl(@args);
    die "ticketsctl @args failed ($rc):\n$out$err" if $rc;
    return $out;
}

# Rows of psql -At, '|'-separated, as characters; the first in scalar
# context.  Dies on an SQL error: that is a bug of the test.
sub psql {
    my ($self, $sql, $db) = @_;
    utf8::encode($sql) if utf8::is_utf8($sql);
    my ($rc, $out, $err) = run_cmd(["$PGBIN/psql", '-X', '-q', '-At',
        '-v', 'ON_ERROR_STOP=1', '-h', $self->{pgsock}, '-p', $self->{pgport},
        '-U', 'tickets', '-d', $db // 'tickets', '-c', $sql]);
    die "psql: $sql\n$err" if $rc;
    utf8::decode($out);
    my @rows = split /\n/, $out;
    return wantarray ? @rows : $rows[0];
}

# The rows of a query as hashes (NULL is undef), through json_agg.
sub rows {
    my ($self, $sql) = @_;
    # json_agg puts a line break between rows
    my $json = join "\n",
        $self->psql("SELECT coalesce(json_agg(q), '[]') FROM ($sql) q");
    utf8::encode($json);
    return @{$JSON->decode($json)};
}

sub quote {
    my ($s) = @_;
    return 'NULL' unless defined $s;
    $s =~ s/'/''/g;
    return "'$s'";
}

sub user_id {
    my ($self, $name) = @_;
    return scalar $self->psql('SELECT id FROM users WHERE lower(user_name) = '
        . 'lower(' . quote($name) . ')');
}


# HTTP --------------------------------------------------------------------

sub url { "http://127.0.0.1:$_[0]{port}$_[1]" }

# The HTTP::Tiny response, with the decoded body in {json} when it is JSON.
# Options: headers, body (a string or a code ref: chunked), token, timeout,
# openapi (0: a response that breaks the protocol on purpose is not checked
# against docs/openapi.yaml; every other one is, see openapi_check).
sub http {
    my ($self, $method, $path, %o) = @_;
    my %h = %{$o{headers} // {}};
    $h{Authorization} = "Bearer $o{token}" if defined $o{token};
    my $ua = $o{timeout}
        ? HTTP::Tiny->new(timeout => $o{timeout}, keep_alive => 0,
                          max_redirect => 0)
        : $self->{ua};
    my $r = $ua->request($method, $self->url($path), {
        headers => \%h, (defined $o{body} ? (content => $o{body}) : ()) });
    my $ct = $r->{headers}{'content-type'} // '';
    if ($ct =~ m{^application/(?:problem\+)?json\b}i) {
        $r->{json} = eval { $JSON->decode($r->{content}) };
        $r->{json_error} = $@ if $@;
    }
    $self->openapi_check($method, $path, $r) if $o{openapi} // 1;
    return $r;
}

# The OpenAPI document of the build (TEST_OPENAPI_DOC: another file),
# loaded and compiled once per process.
our $OPENAPI;
sub openapi {
    return $OPENAPI //= do {
        require Tickets::OpenAPI;
        Tickets::OpenAPI->new($ENV{TEST_OPENAPI_DOC}
            // "$ROOT/build/openapi.json");
    };
}

# Every response is checked against docs/openapi.yaml (Tickets::OpenAPI):
# an undeclared status, a missing header or a body that does not fit is a
# failed test naming the operation.  A passing check adds no test.  In a
# forked child the failure is written down for the parent, which reports
# it at its next request or at the end.  TEST_OPENAPI=0 turns it off.
sub openapi_check {
    my ($self, $method, $path, $r) = @_;
    return if ($ENV{TEST_OPENAPI} // 1) eq '0';
    $self->_openapi_child_failures if $$ == $self->{owner};
    # not an answer of the server: HTTP::Tiny's own (connection refused...)
    return if $r->{status} == 599;
    # the document is of the API (location /api/), not of other locations
    # a test may add (a metrics endpoint...)
    return unless $path =~ m{^/api(?:[/?]|$)}i;
    my $t0 = time;
    my ($op, @errors) = $self->openapi->check($method, $path, $r);
    if ($ENV{TEST_OPENAPI_LOG}) {
        open my $fh, '>>', $ENV{TEST_OPENAPI_LOG} or die "$!";
        printf $fh "%s %s %.4f\n", $op =~ s/ .*//r, $r->{status}, time - $t0;
        close $fh;
    }
    return unless @errors;
    my $msg = "OpenAPI: $op answered $r->{status}: " . join('; ', @errors);
    if ($$ == $self->{owner} || !$self->{owner}) {
        local $Test::Builder::Level = $Test::Builder::Level + 2;
        Test::More::fail($msg);
        Test::More::diag(substr($r->{content} // '', 0, 600));
    } else {
        open my $fh, '>>', "$self->{dir}/openapi.failures" or return;
        print $fh "$msg\n";
        close $fh;
    }
}

sub _openapi_child_failures {
    my ($self) = @_;
    my $file = "$self->{dir}/openapi.failures";
    return unless -s $file;
    my @lines = split /\n/, _slurp($file);
    unlink $file;
    Test::More::fail("$_ (in a child process)") for @lines;
}

sub _bytes {
    my ($s) = @_;
    utf8::encode($s) if utf8::is_utf8($s);
    return $s;
}

sub urlencode {
    my ($s) = @_;
    $s = _bytes($s);
    $s =~ s/([^A-Za-z0-9\-._~ ])/sprintf '%%%02X', ord $1/ge;
    $s =~ tr/ /+/;
    return $s;
}

# [name, value, name, value, ...] -> ([name, value], ...)
sub _pairs {
    my @f = @{$_[0] // []};
    return map { [@f[2 * $_, 2 * $_ + 1]] } 0 .. @f / 2 - 1;
}

sub form_post {
    my ($self, $path, $fields, %o) = @_;
    my $body = join '&', map { urlencode($_->[0]) . '=' . urlencode($_->[1]) }
        _pairs($fields);
    return $self->http(POST => $path, %o, body => $body, headers => {
        'Content-Type' => 'application/x-www-form-urlencoded',
        %{$o{headers} // {}} });
}

# (body, boundary) of a multipart/form-data request.  files are
# [name, filename, content type, bytes].
sub multipart_body {
    my ($fields, $files, $boundary) = @_;
    $boundary //= 'TicketsTest' . unpack 'H*', pack 'N2', rand 2**32,
        rand 2**32;
    my $body = '';
    for my $f (_pairs($fields)) {
        $body .= "--$boundary\r\nContent-Disposition: form-data; name=\""
            . _bytes($f->[0]) . "\"\r\n\r\n" . _bytes($f->[1]) . "\r\n";
    }
    for my $file (@{$files // []}) {
        my ($name, $filename, $type, $data) = @$file;
        $body .= "--$boundary\r\nContent-Disposition: form-data; name=\""
            . _bytes($name) . "\"; filename=\"" . _bytes($filename)
            . "\"\r\nContent-Type: $type\r\n\r\n$data\r\n";
    }
    $body .= "--$boundary--\r\n";
    return ($body, $boundary);
}

# Options: files, token, headers; raw and boundary to send a hand-made body.
sub multipart_post {
    my ($self, $path, $fields, %o) = @_;
    my ($body, $boundary) = defined $o{raw}
        ? ($o{raw}, $o{boundary})
        : multipart_body($fields, $o{files}, $o{boundary});
    return $self->http(POST => $path, %o, body => $body, headers => {
        'Content-Type' => "multipart/form-data; boundary=$boundary",
        %{$o{headers} // {}} });
}


# Tokens ------------------------------------------------------------------

sub b64url {
    (my $s = encode_base64($_[0], '')) =~ tr{+/}{-_};
    $s =~ s/=+$//;
    return $s;
}

# An HS256 JWT for the user, as the module would issue it.  Claims are
# overridden by %o (undef deletes one); header => {...} changes the
# header, secret => ... signs with another key.  HS384 and HS512 are
# signed as such, none is unsigned, and any other alg (RS256...) is signed
# with HMAC-SHA256 and the secret: the classic algorithm confusion.
sub token {
    my ($self, $user, %o) = @_;
    my %claims;
    if (defined $user) {
        my ($id, $role) = split /\|/, scalar $self->psql(
            'SELECT id, role FROM users WHERE lower(user_name) = lower('
            . quote($user) . ')') // die "no user $user\n";
        my @perms = $self->psql('SELECT permission FROM role_permissions'
            . ' WHERE role = ' . quote($role) . ' ORDER BY permission');
        my $now = int time;
        %claims = (sub => $id, role => $role, permissions => \@perms,
            iat => $now, nbf => $now, exp => $now + 3600);
        $claims{iss} = $self->{opts}{issuer} if $self->{opts}{issuer};
        $claims{aud} = $self->{opts}{audience} if $self->{opts}{audience};
    }
    my %header = (alg => 'HS256', typ => 'JWT', %{delete $o{header} // {}});
    defined $header{$_} or delete $header{$_} for keys %header;
    my $secret = delete $o{secret} // $self->secret;
    for (keys %o) {
        if (defined $o{$_}) { $claims{$_} = $o{$_} } else { delete $claims{$_} }
    }
    my $input = b64url($JSON->encode(\%header)) . '.'
        . b64url($JSON->encode(\%claims));
    my $alg = uc($header{alg} // '');
    my $sig = $alg eq 'NONE' ? ''
        : $alg eq 'HS384' ? hmac_sha384($input, $secret)
        : $alg eq 'HS512' ? hmac_sha512($input, $secret)
        : hmac_sha256($input, $secret);
    return "$input." . b64url($sig);
}

# The claims (or the header) of a token, unverified.
sub claims { _jwt_part($_[1], 1) }
sub jwt_header { _jwt_part($_[1], 0) }

sub _jwt_part {
    my ($jwt, $i) = @_;
    my $part = (split /\./, $jwt // '')[$i] // '';
    $part =~ tr{-_}{+/};
    $part .= '=' x (-length($part) % 4);
    return eval { $JSON->decode(MIME::Base64::decode_base64($part)) };
}


# Assertions --------------------------------------------------------------

# SPEC 3.2: the keys of a TicketApiModel and of a person.
our @TICKET_KEYS = qw(id guid title description ticketType source creator
    assignee createdBy category subCategory item site department group client
    status priority tierLevel service impact urgency sla slaState dueDate
    responseDueDate firstRespondedOn cc tags isEscalated isLocked isDeleted
    createdOn updatedOn resolvedOn closedOn deletedOn resolution closure
    attachments);
our @PERSON_KEYS = qw(id fullName userName email);

my %REASON = (400 => ['Bad Request'], 401 => ['Unauthorized'],
    403 => ['Forbidden'], 404 => ['Not Found'],
    405 => ['Method Not Allowed'], 409 => ['Conflict'],
    412 => ['Precondition Failed'],
    413 => ['Content Too Large', 'Payload Too Large',
            'Request Entity Too Large'],
    415 => ['Unsupported Media Type'], 429 => ['Too Many Requests'],
    500 => ['Internal Server Error'], 503 => ['Service Unavailable']);

# Seconds since the epoch of an ISO 8601 UTC date ("...Z"), or undef.
sub iso_epoch {
    my ($s) = @_;
    return undef unless defined $s && $s =~
        /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?Z$/;
    require Time::Local;
    return Time::Local::timegm($6, $5, $4, $3, $2 - 1, $1) + ($7 // 0);
}

# An RFC 9457 error: status, application/problem+json, type, title, status,
# detail; and X-Request-Id, which every response carries.
sub problem_ok {
    my ($self, $r, $status, $name) = @_;
    my $tb = Test::More->builder;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $j = $r->{json};
    my @bad;
    push @bad, "status $r->{status}" if $r->{status} != $status;
    push @bad, 'content type ' . ($r->{headers}{'content-type'} // 'none')
        unless ($r->{headers}{'content-type'} // '')
            =~ m{^application/problem\+json\b}i;
    if (ref $j eq 'HASH') {
        push @bad, "no $_" for grep { !defined $j->{$_} }
            qw(type title status detail);
        push @bad, 'body status ' . ($j->{status} // 'none')
            if ($j->{status} // 0) ne $status;
        # RFC 9457 4.2.1: with about:blank the title is the reason phrase
        push @bad, "title '" . ($j->{title} // '') . "'"
            if ($j->{type} // '') eq 'about:blank' && $REASON{$status}
                && !grep { $_ eq ($j->{title} // '') } @{$REASON{$status}};
        # a 5xx never leaks SQL, connection strings or internals
        push @bad, 'internals leaked'
            if $status >= 500 && $r->{content} =~ /\b(?:SELECT|INSERT|UPDATE
                |PGSQL|postgres|libpq|host=|dbname|socket|\.c:\d)/xi;
    } else {
        push @bad, 'body is not a JSON object';
    }
    push @bad, 'no X-Request-Id' unless $r->{headers}{'x-request-id'};
    my $ok = $tb->ok(!@bad, $name);
    $tb->diag(join(', ', @bad) . "\n$r->{status} $r->{reason}\n"
        . substr($r->{content} // '', 0, 800)) unless $ok;
    return $ok;
}

my @TICKET_TYPES = qw(Ticket Problem Incident ServiceRequest Change);
my @SOURCES = qw(Manual Api);
my @CLOSURE_STATUSES = qw(Successful Unsuccessful Cancelled Duplicate
    NoResponse);
my @DATES = qw(dueDate:due_date responseDueDate:response_due_date
    firstRespondedOn:first_responded_on createdOn:created_on
    updatedOn:updated_on resolvedOn:resolved_on closedOn:closed_on
    deletedOn:deleted_on);
# model key => [column, table, {model key => column}]
my %LOOKUPS = (
    category    => ['category_id', 'categories', { name => 'name' }],
    subCategory => ['subcategory_id', 'subcategories', { name => 'name' }],
    item        => ['item_id', 'items', { name => 'name' }],
    site        => ['site_id', 'sites', { title => 'title' }],
    department  => ['department_id', 'departments', { title => 'title' }],
    group       => ['group_id', 'groups', { group => 'name' }],
    client      => ['client_id', 'clients', { name => 'name' }],
    status      => ['status_id', 'statuses',
                    { status => 'name', statusType => 'status_type' }],
    priority    => ['priority_id', 'priorities', { priority => 'name' }],
    tierLevel   => ['tier_level_id', 'tier_levels', { title => 'title' }],
    service     => ['service_id', 'services', { name => 'name' }],
    impact      => ['impact_id', 'impacts', { name => 'name' }],
    urgency     => ['urgency_id', 'urgencies', { name => 'name' }],
    sla         => ['sla_id', 'sla_policies', { name => 'name' }],
);

# A person as the API shows one, {id, fullName, userName, email}.
# Two TicketApiModels of one ticket are the same but for the SLA clock,
# which moves between the two answers.
sub model_is {
    my ($self, $got, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @m = map { $JSON->decode($JSON->encode($_ // {})) } $got, $want;
    ref $_->{slaState} eq 'HASH' and delete $_->{slaState}{minutesLeft}
        for @m;
    Test::More::is_deeply($m[0], $m[1], $name);
}

sub person {
    my ($self, $id) = @_;
    return undef unless defined $id;
    return $self->_cached('users', $id, { fullName => 'full_name',
        userName => 'user_name', email => 'email' });
}

# A row of a table that the tests do not change (users only grow), kept
# per instance: each psql costs tens of milliseconds.
sub _cached {
    my ($self, $table, $id, $map) = @_;
    my $c = $self->{cache}{$table};
    unless ($c && exists $c->{$id}) {
        $c = $self->{cache}{$table} = { map { $_->{id} => $_ }
            $self->rows("SELECT * FROM $table") };
    }
    my $row = $c->{$id} or return undef;
    return { id => $row->{id}, map { $_ => $row->{$map->{$_}} } keys %$map };
}

sub _enum_ok {
    my ($got, $names, $n, $name) = @_;
    # SPEC fixes enum names for input; either form is taken on output
    Test::More::ok(defined $got && defined $n
        && ($got eq $names->[$n] || $got eq $n), $name)
        or Test::More::diag('got ' . ($got // 'null') . ', want '
            . (defined $n ? "$names->[$n] or $n" : 'null'));
}

sub _date_ok {
    my ($got, $epoch, $name) = @_;
    return Test::More::is($got, undef, $name) unless defined $epoch;
    my $e = iso_epoch($got);
    Test::More::ok(defined $e && abs($e - $epoch) < 1, $name)
        or Test::More::diag('got ' . ($got // 'null') . ', want epoch '
            . $epoch);
}

sub _bool_ok {
    my ($got, $want, $name) = @_;
    Test::More::ok(JSON::PP::is_bool($got) && !$got == !$want, $name)
        or Test::More::diag('got ' . ($got // 'null'));
}

# A TicketApiModel compared with the database, field by field (SPEC 3.2).
sub ticket_ok {
    my ($self, $got, $id, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    $id = 0 unless ($id // '') =~ /^\d+$/;
    # everything in one query
    my ($row) = $self->rows('SELECT t.*, '
        . join(', ', map { my (undef, $c) = split /:/;
                           "extract(epoch FROM t.$c)::float8 AS e_$c" } @DATES)
        . ", (s.status_type = 'Closed' AND t.closed_on + (SELECT value::int"
        . " FROM settings WHERE key = 'lock_closed_after_days')"
        . " * interval '1 day' <= now()) AS locked,"
        . ' (SELECT coalesce(json_agg(g.name ORDER BY g.name), \'[]\')'
        . '  FROM ticket_tags tt JOIN tags g ON g.id = tt.tag_id'
        . '  WHERE tt.ticket_id = t.id) AS tag_names,'
        . ' (SELECT row_to_json(x) FROM (SELECT resolution, resolved_by_id,'
        . '  extract(epoch FROM resolved_on)::float8 AS e FROM resolutions'
        . '  WHERE ticket_id = t.id) x) AS res,'
        . ' (SELECT row_to_json(x) FROM (SELECT *, extract(epoch FROM'
        . '  closing_date)::float8 AS e FROM closures WHERE ticket_id = t.id)'
        . '  x) AS clo,'
        . ' (SELECT coalesce(json_agg(x ORDER BY x.id), \'[]\') FROM (SELECT'
        . '  id, file_name AS "fileName", content_type AS "contentType", size,'
        . '  sha256 FROM attachments WHERE ticket_id = t.id'
        . '  AND conversation_id IS NULL) x) AS att'
        . ' FROM tickets t JOIN statuses s ON s.id = t.status_id'
        . " WHERE t.id = $id");
    return Test::More::subtest($name => sub {
        return Test::More::fail("ticket $id in the database") unless $row;
        return Test::More::fail('a JSON object') unless ref $got eq 'HASH';
        Test::More::is_deeply([sort keys %$got], [sort @TICKET_KEYS],
            'the keys of a TicketApiModel');
        Test::More::is($got->{$_}, $row->{$_}, $_)
            for qw(id guid title description cc);
        _enum_ok($got->{ticketType}, \@TICKET_TYPES, $row->{ticket_type},
            'ticketType');
        _enum_ok($got->{source}, \@SOURCES, $row->{source}, 'source');
        Test::More::is_deeply($got->{creator},
            $self->person($row->{requester_id}), 'creator');
        Test::More::is_deeply($got->{assignee},
            $self->person($row->{assignee_id}), 'assignee');
        Test::More::is_deeply($got->{createdBy},
            $self->person($row->{created_by_id}), 'createdBy');
        for my $key (sort keys %LOOKUPS) {
            my ($col, $table, $map) = @{$LOOKUPS{$key}};
            my $want = defined $row->{$col}
                ? $self->_cached($table, $row->{$col}, $map) : undef;
            Test::More::is_deeply($got->{$key}, $want, $key);
        }
        for (@DATES) {
            my ($key, $col) = split /:/;
            _date_ok($got->{$key}, $row->{"e_$col"}, $key);
        }
        _bool_ok($got->{isEscalated}, $row->{is_escalated}, 'isEscalated');
        _bool_ok($got->{isDeleted}, $row->{is_deleted}, 'isDeleted');
        _bool_ok($got->{isLocked}, $row->{locked}, 'isLocked');

        # the shape of a tag is not fixed: a name or {id, name}
        my @tags = map { ref $_ ? $_->{name} : $_ } @{$got->{tags} // []};
        Test::More::is_deeply([sort @tags], $row->{tag_names}, 'tags');

        if (my $res = $row->{res}) {
            my $g = $got->{resolution} // {};
            Test::More::is_deeply([sort keys %$g],
                [qw(resolution resolvedBy resolvedOn)], 'resolution keys');
            Test::More::is($g->{resolution}, $res->{resolution},
                'resolution.resolution');
            Test::More::is_deeply($g->{resolvedBy},
                $self->person($res->{resolved_by_id}),
                'resolution.resolvedBy');
            _date_ok($g->{resolvedOn}, $res->{e}, 'resolution.resolvedOn');
        } else {
            Test::More::is($got->{resolution}, undef, 'resolution null');
        }

        if (my $clo = $row->{clo}) {
            my $g = $got->{closure} // {};
            Test::More::is_deeply([sort keys %$g], [sort qw(status comments
                closureComments closedBy closingDate acknowledged)],
                'closure keys');
            if (defined $clo->{status}) {
                _enum_ok($g->{status}, \@CLOSURE_STATUSES, $clo->{status},
                    'closure.status');
            } else {
                Test::More::is($g->{status}, undef, 'closure.status');
            }
            Test::More::is($g->{comments}, $clo->{comments},
                'closure.comments');
            Test::More::is($g->{closureComments}, $clo->{closure_comments},
                'closure.closureComments');
            Test::More::is_deeply($g->{closedBy},
                $self->person($clo->{closed_by_id}), 'closure.closedBy');
            _date_ok($g->{closingDate}, $clo->{e}, 'closure.closingDate');
            _bool_ok($g->{acknowledged}, $clo->{acknowledged},
                'closure.acknowledged');
        } else {
            Test::More::is($got->{closure}, undef, 'closure null');
        }

        my $att = $got->{attachments};
        $att = [sort { $a->{id} <=> $b->{id} } @$att]
            if ref $att eq 'ARRAY' && !grep { ref $_ ne 'HASH' } @$att;
        Test::More::is_deeply($att, $row->{att}, 'attachments');
    });
}

sub plan { shift; Test::More::plan(@_) }

1;
