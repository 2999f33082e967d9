#!/usr/bin/perl

# make chaos: writes and reads under faults, then an account of every
# request (issue 13, part 3; docs/reliability.md explains the output).
#
# Its own PostgreSQL and nginx (2 workers) on loopback, as the tests'
# harness starts them; 16 clients register, reply, update and read, each
# write retried the same (its Idempotency-Key, its due date) until it is
# answered.  Meanwhile: SIGKILL of a worker every CHAOS_KILL_EVERY s, HUP
# of the master every CHAOS_HUP_EVERY s, a fast and an immediate restart
# of PostgreSQL, a graceful stop and start of nginx.  Only the processes
# it started are signalled: the children of its own master and its own
# PostgreSQL.  Exits 0 when every acknowledged write is in the database
# exactly once, every request was answered (but those a fault explains,
# see below), and nginx logged no alert but the expected ones; else 1.
#
#   CHAOS_SECONDS     length of the faults (default 60)
#   CHAOS_CLIENTS     clients (16)
#   CHAOS_KILL_EVERY  seconds between worker kills (10, at most a third
#                     of the length)
#   CHAOS_HUP_EVERY   seconds between reloads (7, at most a quarter)
#   TEST_KEEP=1       keep the directory (logs, each client's attempts)
#
# An attempt without a whole response is explained only by:
#   - a SIGKILL: the attempt was in flight when a worker was killed (the
#     kernel resets the connections of a dead process; with 2 workers
#     about half of those in flight are the killed one's);
#   - the graceful stop: the attempt ended while nginx was stopped or
#     stopping and its write is not in the database (a connection still in
#     the listen queue when the listening socket closes is reset by the
#     kernel: no worker took it).  A read there cannot be checked and is
#     counted apart.
# Anything else is unanswered, and fails the run.  Expected alerts: the
# master's "worker process N exited on signal 9" for a worker it killed.

use strict;
use warnings;

use File::Basename qw(dirname);
use lib dirname(__FILE__) . '/lib';

use POSIX ();
use Time::HiRes qw(time sleep);
use Tickets::Load;
use Tickets::Test;

$| = 1;

my $SECONDS = $ENV{CHAOS_SECONDS} // 60;
my $CLIENTS = $ENV{CHAOS_CLIENTS} // 16;
my $KILL_EVERY = $ENV{CHAOS_KILL_EVERY} // _min(10, $SECONDS / 3);
my $HUP_EVERY = $ENV{CHAOS_HUP_EVERY} // _min(7, $SECONDS / 4);
# the run is bounded whatever happens
my $LIMIT = $SECONDS + 180;

sub _min { $_[0] < $_[1] ? $_[0] : $_[1] }

my $started = time;
my $t = Tickets::Test->new(workers => 2, pg_crash_safe => 1,
    main_extra => 'worker_shutdown_timeout 10s;',
    expected_alerts => qr/worker process \d+ exited on signal 9/)->run;
my $load = Tickets::Load->new(t => $t, clients => $CLIENTS, prefix => 'ch',
    token => $t->token('admin'), retry_for => 60);

local $SIG{ALRM} = sub {
    print "chaos: still running after ${LIMIT}s: FAIL\n";
    kill 'KILL', @{$load->{pids} // []};
    exit 1;
};
alarm $LIMIT;

printf "chaos: %ds, %d clients, nginx 2 workers on port %d, %s\n",
    $SECONDS, $CLIENTS, $t->port, $t->dir;

sub master { (Tickets::Test::_slurp($t->dir . '/nginx.pid') =~ /(\d+)/)[0] }

# The worker processes of our master (old ones shutting down included).
sub workers {
    my $m = master() or return ();
    my @w;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my ($pid, $ppid) = Tickets::Test::_slurp($stat)
            =~ /^(\d+) \(.*\) \S (\d+)/s or next;
        next unless $ppid == $m;
        push @w, $pid if Tickets::Test::_slurp("/proc/$pid/cmdline")
            =~ /worker process/;
    }
    return @w;
}

sub pg_stop_mode {
    my ($mode) = @_;
    my ($rc, $out, $err) = Tickets::Test::run_cmd([
        Tickets::Test::as_postgres("$Tickets::Test::PGBIN/pg_ctl", 'stop',
        '-w', '-t', '60', '-m', $mode, '-D', $t->{pgdata})]);
    die "pg_ctl stop -m $mode: $out$err" if $rc;
    $t->{pg_running} = 0;
}

my (%faults, @kills, @stops, %killed, @timeline);

my %event = (
    kill => sub {
        my @w = workers();
        return unless @w;
        my $pid = $w[rand @w];
        push @kills, time;
        $killed{$pid} = 1;
        kill 'KILL', $pid;
        $faults{'worker SIGKILLs'}++;
    },
    hup => sub {
        my $m = master() or return;
        kill 'HUP', $m;
        $faults{'reloads (HUP)'}++;
    },
    pg_fast => sub {
        pg_stop_mode('fast');
        $t->start_pg;
        $faults{'PostgreSQL fast restarts'}++;
    },
    pg_immediate => sub {
        pg_stop_mode('immediate');
        $t->start_pg;
        $faults{'PostgreSQL immediate restarts'}++;
    },
    stop_start => sub {
        my $m = master() or return;
        my $t0 = time;
        kill 'QUIT', $m;
        for (1 .. 600) {
            last unless Tickets::Test::_alive($m);
            sleep 0.05;
        }
        die "nginx did not stop gracefully\n" if Tickets::Test::_alive($m);
        $t->{nginx_running} = 0;
        sleep 0.5;
        $t->run;
        push @stops, [$t0, time];
        $faults{'nginx graceful stops + starts'}++;
    },
);

my @plan;
for (my $x = $KILL_EVERY; $x < $SECONDS; $x += $KILL_EVERY) {
    push @plan, [$x, 'kill'];
}
for (my $x = $HUP_EVERY; $x < $SECONDS; $x += $HUP_EVERY) {
    push @plan, [$x, 'hup'];
}
push @plan, [$SECONDS * 0.3, 'pg_fast'], [$SECONDS * 0.55, 'pg_immediate'],
    [$SECONDS * 0.8, 'stop_start'];
@plan = sort { $a->[0] <=> $b->[0] } @plan;

$load->start;
my $t_start = time;
for my $e (@plan) {
    my $wait = $t_start + $e->[0] - time;
    sleep $wait if $wait > 0;
    push @timeline, [time, $e->[1]];
    $event{$e->[1]}->();
    push @timeline, [time, "$e->[1] done"] if $e->[1] =~ /^(pg|stop)/;
}
my $wait = $t_start + $SECONDS - time;
sleep $wait if $wait > 0;
$load->stop;
alarm 0;

# The account ---------------------------------------------------------------

my $acc = $load->account;
my @a = @{$acc->{attempts}};

my (@by_kill, @by_stop, @reads_stop, @unexplained);
for my $x (@{$acc->{unanswered}}) {
    if ($x->{outcome} ne 'timeout'
        && grep { $x->{t0} <= $_ + 0.05 && $x->{t1} >= $_ - 0.05 } @kills)
    {
        push @by_kill, $x;
    } elsif ($x->{outcome} ne 'timeout'
        && grep { $x->{t1} >= $_->[0] - 0.05 && $x->{t1} <= $_->[1] } @stops)
    {
        if (!defined $x->{present}) {
            push @reads_stop, $x;
        } elsif (!$x->{present}) {
            push @by_stop, $x;
        } else {
            push @unexplained, $x;
        }
    } else {
        push @unexplained, $x;
    }
}

# the alerts nginx logged, and whether a kill of ours explains them
my (@expected, @unexpected);
for (split /\n/, $t->error_log) {
    next unless /\[(alert|crit|emerg)\]/;
    if (/worker process (\d+) exited on signal 9/ && $killed{$1}) {
        push @expected, $_;
    } else {
        push @unexpected, $_;
    }
}

my %ops;
for (@a) {
    $ops{$_->{op}}{acked}++ if $_->{outcome} eq 'answer'
        && $_->{status} >= 200 && $_->{status} < 300;
}

printf "fault times (s): %s\n", join ', ', map { sprintf '%s %.3f', $_->[1],
    $_->[0] - $t_start } @timeline;
printf "faults: %s\n", join ', ', map { "$faults{$_} $_" } sort keys %faults;
printf "attempts: %d (%s)\n", scalar @a,
    join ', ', map { "$_ $acc->{by_outcome}{$_}" }
    sort keys %{$acc->{by_outcome}};
printf "statuses: %s\n", join ', ', map { "$_: $acc->{by_status}{$_}" }
    sort keys %{$acc->{by_status}};
printf "acknowledged writes: %d (%s); reads answered 200: %d\n",
    $acc->{acked}, join(', ', map { "$_ " . ($ops{$_}{acked} // 0) }
    qw(register reply update)), $acc->{reads};
printf "lost: %d\nduplicated: %d\n", scalar @{$acc->{lost}},
    scalar @{$acc->{dup}};
printf "unanswered: %d (explained: %d in flight at a worker SIGKILL, of"
    . " which %d writes had committed; %d writes and %d reads in the listen"
    . " queue at the graceful stop)\n", scalar @unexplained, scalar @by_kill,
    scalar(grep { $_->{present} } @by_kill), scalar @by_stop,
    scalar @reads_stop;
printf "unexpected answers: %d\n", scalar @{$acc->{errors}};
printf "alerts: %d expected (workers killed), %d unexpected\n",
    scalar @expected, scalar @unexpected;

my $show = sub {
    my ($what, @x) = @_;
    return unless @x;
    print "$what:\n";
    print '  ', Tickets::Load::describe($_, $t_start), "\n"
        for grep defined, @x[0 .. 19];
};
$show->('lost', @{$acc->{lost}});
$show->('duplicated', @{$acc->{dup}});
$show->('unanswered', @unexplained);
$show->('unexpected answers', @{$acc->{errors}});
print map { "  $_\n" } 'unexpected alerts:', @unexpected if @unexpected;

my $fail = @{$acc->{lost}} || @{$acc->{dup}} || @unexplained
    || @{$acc->{errors}} || @unexpected || !$acc->{acked};
printf "chaos: %s in %.0fs\n", $fail ? 'FAIL' : 'PASS', time - $started;
$t->stop;
exit($fail ? 1 : 0);
