package Tickets::Fleet;

# The fleet of docs/scale.md for the tests: a primary with a streaming
# replica (pg_basebackup -R, real replication, its own data directory,
# port and socket), nginx instances over them, and a PgBouncer.
#
#   my $f = Tickets::Fleet->new(replica => 1);     # primary + replica
#   my @h = $f->hosts(3, tickets_db_read => 1);    # three nginx
#   $f->psql($sql); $f->replica_psql($sql);
#   $f->wait_replayed; $f->pause_replay; $f->resume_replay;
#   $f->stop_replica; $f->start_replica;
#   $f->stop_primary; $f->promote;                 # a failover
#   my $port = $f->start_pgbouncer(pool_mode => 'transaction');
#
# The primary is a Tickets::Test (new() options go to it); each host is a
# Tickets::Test over it (pg_from).  tickets_db of the hosts lists both
# servers with target_session_attrs=read-write, so that a promoted
# replica is found without a restart; tickets_db_read is the replica.
# Every host also writes fleet.log: the access log with
# $tickets_db_served.  Core Perl only, as Tickets::Test.

use strict;
use warnings;

use File::Basename qw(dirname);
use POSIX ();
use Scalar::Util ();
use Time::HiRes qw(sleep time);

use Tickets::Test;

my $PGBIN = $Tickets::Test::PGBIN;
my $PGBOUNCER = $ENV{TEST_PGBOUNCER} // '/usr/sbin/pgbouncer';
my %LIVE;

# before Tickets::Test's END (this one is compiled after it): the replica
# lives in the primary's directory
END { $_ && $_->DESTROY for values %LIVE }

sub new {
    my ($class, %o) = @_;
    my $replica = delete $o{replica};
    my $self = bless { owner => $$, hosts => [] }, $class;
    $LIVE{$self} = $self;
    Scalar::Util::weaken($LIVE{$self});
    $self->{primary} = Tickets::Test->new(%o);
    my $p = $self->{primary};
    $self->{nodes} = [{ data => $p->{pgdata}, sock => $p->{pgsock},
        port => $p->{pgport}, log => $p->{pglog}, running => 1 }];
    $self->add_replica if $replica;
    return $self;
}

sub primary { $_[0]{primary} }
sub dir     { $_[0]{primary}->dir }
sub node    { $_[0]{nodes}[$_[1]] }

# The replica: a base backup of the primary, streaming from it.
sub add_replica {
    my ($self) = @_;
    my $src = $self->{nodes}[0];
    my $d = $self->dir . '/replica';
    mkdir $d, 0755 or die "$d: $!";
    Tickets::Test::chown_postgres($d);
    my $n = { data => "$d/data", sock => $d, port => Tickets::Test::free_port(),
        log => "$d/postgresql.log" };
    my ($rc, $out, $err) = Tickets::Test::run_cmd([Tickets::Test::as_postgres(
        "$PGBIN/pg_basebackup", '-D', $n->{data}, '-R', '-X', 'stream',
        '-c', 'fast', '-h', $src->{sock}, '-p', $src->{port},
        '-U', 'tickets')], cwd => $d);
    die "pg_basebackup failed:\n$out$err" if $rc;
    Tickets::Test::pg_start($n->{data}, $n->{sock}, $n->{port}, $n->{log}, 1);
    $n->{running} = 1;
    push @{$self->{nodes}}, $n;
    $self->wait_replayed;
    return $self;
}

# A conninfo of node i (0: the first primary, 1: the replica).
sub conninfo_of {
    my ($self, $i, $extra) = @_;
    my $n = $self->{nodes}[$i];
    return "host=$n->{sock} port=$n->{port} dbname=tickets user=tickets"
        . ($extra ? " $extra" : '');
}

# Every node, the writable one found by libpq.
sub primary_conninfo {
    my ($self) = @_;
    my @n = @{$self->{nodes}};
    return 'host=' . join(',', map { $_->{sock} } @n) . ' port='
        . join(',', map { $_->{port} } @n)
        . ' dbname=tickets user=tickets target_session_attrs=read-write'
        . ' connect_timeout=2';
}

sub replica_conninfo { $_[0]->conninfo_of(1, 'connect_timeout=2') }

# psql on node i: rows as Tickets::Test::psql answers them.
sub psql_on {
    my ($self, $i, $sql) = @_;
    my $n = $self->{nodes}[$i];
    # several statements: each its own -c, in one session
    my @c = map { ('-c', $_) } ref $sql ? @$sql : $sql;
    my ($rc, $out, $err) = Tickets::Test::run_cmd(["$PGBIN/psql", '-X',
        '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', $n->{sock}, '-p',
        $n->{port}, '-U', 'tickets', '-d', 'tickets', @c]);
    die "psql on node $i: $sql\n$err" if $rc;
    utf8::decode($out);
    my @rows = split /\n/, $out;
    return wantarray ? @rows : $rows[0];
}

# On the node that is primary now.
sub psql { my $s = shift; $s->psql_on($s->{writer} // 0, @_) }
sub replica_psql { $_[0]->psql_on(1, $_[1]) }

# Until the replica has replayed all the primary wrote (10 s at most).
sub wait_replayed {
    my ($self, $timeout) = @_;
    my $lsn = $self->psql('SELECT pg_current_wal_insert_lsn()');
    my $until = time + ($timeout // 10);
    while (time < $until) {
        return 1 if $self->replica_psql("SELECT pg_last_wal_replay_lsn()"
            . " >= '$lsn'::pg_lsn") eq 't';
        sleep 0.05;
    }
    return 0;
}

sub pause_replay  { $_[0]->replica_psql('SELECT pg_wal_replay_pause()') }
sub resume_replay { $_[0]->replica_psql('SELECT pg_wal_replay_resume()') }

sub stop_node {
    my ($self, $i) = @_;
    my $n = $self->{nodes}[$i];
    return $self unless $n->{running};
    Tickets::Test::pg_stop($n->{data});
    $n->{running} = 0;
    return $self;
}

sub start_node {
    my ($self, $i) = @_;
    my $n = $self->{nodes}[$i];
    return $self if $n->{running};
    Tickets::Test::pg_start($n->{data}, $n->{sock}, $n->{port}, $n->{log},
        1);
    $n->{running} = 1;
    return $self;
}

sub stop_replica  { $_[0]->stop_node(1) }
sub start_replica { $_[0]->start_node(1) }

# The first primary goes away (its Tickets::Test forgets it is running).
sub stop_primary {
    my ($self) = @_;
    $self->stop_node(0);
    $self->{primary}{pg_running} = 0;
    return $self;
}

# pg_ctl promote on the replica: it is the primary from now on.
sub promote {
    my ($self) = @_;
    my $n = $self->{nodes}[1];
    my ($rc, $out, $err) = Tickets::Test::run_cmd([Tickets::Test::as_postgres(
        "$PGBIN/pg_ctl", 'promote', '-w', '-t', '30', '-D', $n->{data})],
        cwd => dirname($n->{data}));
    die "pg_ctl promote failed:\n$out$err" if $rc;
    $self->{writer} = 1;
    return $self;
}

# n nginx over the fleet.  Options of Tickets::Test::run, and
# tickets_db_read (1: the replica, or a conninfo), max_lag, db (the
# tickets_db; the primary_conninfo by default), conf (more directives).
sub hosts {
    my ($self, $n, %o) = @_;
    my $read = delete $o{tickets_db_read};
    $read = $self->replica_conninfo if $read && $read eq '1';
    my $lag = delete $o{max_lag};
    my $db = delete $o{db} // $self->primary_conninfo;
    my $extra = delete $o{conf} // '';
    my @h;
    for (1 .. $n) {
        my $h = Tickets::Test->new(pg_from => $self->{primary});
        my $log = $h->dir . '/fleet.log';
        $h->run(%o, db => $db, http_extra => ($o{http_extra} // '')
            . "    log_format fleet '\$request_method \$uri \$status"
            . " \$tickets_db_served';\n    access_log $log fleet;\n"
            . ($read ? "    tickets_db_read \"$read\";\n" : '')
            . (defined $lag ? "    tickets_db_read_max_lag $lag;\n" : '')
            . $extra);
        push @h, $h;
    }
    push @{$self->{hosts}}, @h;
    return @h;
}

# How many requests of a host matched re, per "primary" and "replica".
sub served {
    my ($self, $h, $re) = @_;
    my %n = (primary => 0, replica => 0);
    my $log = $h->dir . '/fleet.log';
    # nginx logs a request just after its answer went out: wait until the
    # log has stopped growing for 100 ms (at most 3 s)
    my ($size, $until) = (-1, time + 3);
    while (time < $until) {
        my $now = -s $log // 0;
        last if $now == $size;
        $size = $now;
        sleep 0.1;
    }
    for (split /\n/, Tickets::Test::_slurp($log)) {
        $n{$1}++ if /$re/ && / (primary|replica)$/;
    }
    return \%n;
}


# PgBouncer ---------------------------------------------------------------

# A PgBouncer of its own in front of the primary, on a free port of
# 127.0.0.1: trust with a userlist, pool_mode (transaction by default),
# pool_size server connections (2).  As root it runs as postgres (it
# refuses root).  Returns its port.
sub start_pgbouncer {
    my ($self, %o) = @_;
    my $d = $self->dir . '/pgbouncer';
    mkdir $d, 0755 unless -d $d;
    Tickets::Test::chown_postgres($d);
    my $n = $self->{nodes}[0];
    my $port = $self->{pgbouncer_port} //= Tickets::Test::free_port();
    Tickets::Test::_spew("$d/userlist.txt", qq{"tickets" ""\n}, 0644);
    Tickets::Test::_spew("$d/pgbouncer.ini", <<"EOF", 0644);
[databases]
tickets = host=$n->{sock} port=$n->{port} dbname=tickets user=tickets

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $d
auth_type = trust
auth_file = $d/userlist.txt
admin_users = tickets
pool_mode = ${\($o{pool_mode} // 'transaction')}
default_pool_size = ${\($o{pool_size} // 2)}
max_client_conn = 200
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = $d/pgbouncer.log
pidfile = $d/pgbouncer.pid
EOF
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$d/stdout.log";
        open STDERR, '>&', \*STDOUT;
        my @cmd = Tickets::Test::as_postgres($PGBOUNCER, "$d/pgbouncer.ini");
        exec { $cmd[0] } @cmd or POSIX::_exit(127);
    }
    $self->{pgbouncer_pid} = $pid;
    Tickets::Test::wait_port($port, 10)
        or die "pgbouncer did not start:\n"
            . Tickets::Test::_slurp("$d/stdout.log")
            . Tickets::Test::_slurp("$d/pgbouncer.log");
    return $port;
}

sub pgbouncer_conninfo {
    my ($self) = @_;
    return "host=127.0.0.1 port=$self->{pgbouncer_port} dbname=tickets"
        . ' user=tickets';
}

# SHOW ... on PgBouncer's console: rows as hashes
sub pgbouncer_show {
    my ($self, $what) = @_;
    my ($rc, $out, $err) = Tickets::Test::run_cmd(["$PGBIN/psql", '-X', '-q',
        '-A', '-F', '|', '-P', 'footer=off', '-h', '127.0.0.1', '-p',
        $self->{pgbouncer_port}, '-U', 'tickets', '-d', 'pgbouncer', '-c',
        "SHOW $what"]);
    die "SHOW $what: $err" if $rc;
    my ($head, @rows) = split /\n/, $out;
    my @k = split /\|/, $head;
    return map { my @v = split /\|/, $_, -1; my %r; @r{@k} = @v; \%r } @rows;
}

sub stop_pgbouncer {
    my ($self) = @_;
    my $pid = delete $self->{pgbouncer_pid} or return $self;
    kill 'TERM', $pid;
    for (1 .. 100) {
        last if waitpid($pid, POSIX::WNOHANG()) == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid $pid, 0;
    return $self;
}

sub stop {
    my ($self) = @_;
    $_->stop_nginx for @{$self->{hosts}};
    $self->stop_pgbouncer;
    $self->stop_node($_) for reverse 1 .. $#{$self->{nodes}};
    return $self;
}

sub DESTROY {
    my ($self) = @_;
    return unless $self->{owner} && $self->{owner} == $$;
    local ($!, $@, $?);
    delete $LIVE{$self};
    $self->stop;
    $self->{owner} = 0;
}

1;
