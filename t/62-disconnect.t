#!/usr/bin/perl

# A client that disconnects mid-request leaves no work behind (issue 13,
# part 3): before its body is complete nothing runs; after it, the
# statement its task runs is cancelled (PQcancel), the transaction rolls
# back, the answer is dropped (499 in the access log), and the pool
# thread's connection serves the next requests.
#
# To catch a statement while it runs, the test holds a lock the write
# needs from a psql session of its own: the write waits on it, visibly in
# pg_stat_activity, until the client goes.

use strict;
use warnings;

use IO::Socket::INET;
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);
use Tickets::Load;
use Tickets::Test;

my $t = Tickets::Test->new->run(workers => 1);
my $admin = $t->token('admin');
my $creator = $t->user_id('member1');
my $port = $t->port;

sub register_body {
    my ($title) = @_;
    return Tickets::Load::form_body(Title => $title, Description => 'x',
        CreatorId => $creator, SiteId => 1, DepartmentId => 1,
        TicketStatusId => 1, TicketType => 'Incident');
}

# A request written whole (or but its last $o{short} bytes), on a socket
# kept open.
sub send_request {
    my ($path, $body, %o) = @_;
    my $req = "POST $path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        . "Authorization: Bearer $admin\r\n"
        . "Content-Type: application/x-www-form-urlencoded\r\n"
        . ($o{key} ? "Idempotency-Key: $o{key}\r\n" : '')
        . "Content-Length: " . length($body) . "\r\n\r\n" . $body;
    $req = substr $req, 0, length($req) - $o{short} if $o{short};
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
        Proto => 'tcp') or die "connect: $!";
    print $s $req;
    $s->flush;
    return $s;
}

# The module's statements that run now, and those that wait for a lock.
sub active {
    return scalar $t->psql("SELECT count(*) FROM pg_stat_activity WHERE"
        . " application_name = 'ngx_tickets' AND state = 'active'");
}
sub waiting {
    return scalar $t->psql("SELECT count(*) FROM pg_stat_activity WHERE"
        . " application_name = 'ngx_tickets' AND wait_event_type = 'Lock'");
}

# Polls until the condition holds (bounded): a wait, not a timed assertion.
sub eventually {
    my ($cond, $limit) = @_;
    my $until = time + ($limit // 15);
    while (time < $until) {
        return 1 if $cond->();
        sleep 0.1;
    }
    return $cond->();
}

# A psql session of the test that holds a lock until it is cancelled.
sub hold_lock {
    my ($sql) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        Tickets::Test::run_cmd(["$Tickets::Test::PGBIN/psql", '-X', '-q',
            '-h', $t->{pgsock}, '-p', $t->pgport, '-U', 'tickets',
            '-d', 'tickets', '-c', "BEGIN; $sql; SELECT pg_sleep(120);"
            . ' ROLLBACK'], env => { PGAPPNAME => 'tk-locker' });
        POSIX::_exit(0);
    }
    eventually(sub { $t->psql("SELECT count(*) FROM pg_stat_activity WHERE"
        . " application_name = 'tk-locker' AND query LIKE '%pg_sleep%'"
        . " AND wait_event = 'PgSleep'") == 1 }, 15)
        or die "the locker did not start\n";
    return $pid;
}

sub release_lock {
    my ($pid) = @_;
    $t->psql("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE"
        . " application_name = 'tk-locker'");
    waitpid $pid, 0;
}

sub healthy {
    my ($name) = @_;
    # more requests than the pool has threads: each thread's connection
    my @s = map { $t->http(GET => '/api/TicketsApi/1', token => $admin)
        ->{status} } 1 .. 12;
    is_deeply \@s, [(200) x 12], "$name: the next requests are answered";
    is active(), 0, "$name: no statement of the module left running";
}

my $id = do {
    my $r = Tickets::Load::request($port, POST => '/api/TicketsApi/register',
        body => register_body('Disconnect target'), headers => {
        Authorization => "Bearer $admin",
        'Content-Type' => 'application/x-www-form-urlencoded' });
    $r->{json}{id} // die "register: $r->{outcome}\n";
};

# 1. Before the body is complete: nothing runs, nothing is stored.
{
    my $s = send_request('/api/TicketsApi/register',
        register_body('Cut short'), short => 10);
    sleep 0.3;
    close $s;
    sleep 0.3;
    is scalar $t->psql("SELECT count(*) FROM tickets WHERE title ="
        . " 'Cut short'"), 0, 'body cut short: nothing stored';
    like $t->error_log, qr/client prematurely closed connection/,
        'body cut short: nginx saw the body end early';
    healthy('body cut short');
}

# 2. After the body, while its update waits for a row lock: cancelled.
{
    my $history = $t->psql("SELECT count(*) FROM history WHERE ticket_id"
        . " = $id");
    my $due = $t->psql("SELECT due_date FROM tickets WHERE id = $id");
    my $locker = hold_lock("SELECT 1 FROM tickets WHERE id = $id FOR UPDATE");
    my $s = send_request("/api/TicketsApi/update/$id",
        Tickets::Load::form_body(DueDate => '2031-02-03T04:05:00Z'));
    ok eventually(sub { waiting() == 1 }), 'update: its statement waits'
        . ' for the lock';
    close $s;
    ok eventually(sub { waiting() == 0 && active() == 0 }),
        'update: the client went away, its statement is cancelled';
    release_lock($locker);
    is scalar $t->psql("SELECT due_date FROM tickets WHERE id = $id"), $due,
        'update: the ticket is unchanged';
    is scalar $t->psql("SELECT count(*) FROM history WHERE ticket_id"
        . " = $id"), $history, 'update: no history row';
    healthy('update cancelled');
}

# 3. A register waiting to insert: cancelled, and its Idempotency-Key is
# free for the retry, which creates the ticket once.
{
    my $locker = hold_lock('LOCK TABLE tickets IN EXCLUSIVE MODE');
    my $s = send_request('/api/TicketsApi/register',
        register_body('Cancelled register'), key => 'disc-key-1');
    ok eventually(sub { waiting() == 1 }), 'register: its insert waits';
    close $s;
    ok eventually(sub { waiting() == 0 && active() == 0 }),
        'register: cancelled';
    release_lock($locker);
    is scalar $t->psql("SELECT count(*) FROM tickets WHERE title ="
        . " 'Cancelled register'"), 0, 'register: nothing stored';
    my $r = Tickets::Load::request($port, POST => '/api/TicketsApi/register',
        body => register_body('Cancelled register'), headers => {
        Authorization => "Bearer $admin", 'Idempotency-Key' => 'disc-key-1',
        'Content-Type' => 'application/x-www-form-urlencoded' });
    is $r->{status}, 201, 'register: the retry with its key: 201';
    is scalar $t->psql("SELECT count(*) FROM tickets WHERE title ="
        . " 'Cancelled register'"), 1, 'register: stored once';
    healthy('register cancelled');
}

# 4. Clients that go at any moment of their write: each write is whole or
# absent, never twice, and nothing keeps running.
{
    my @titles = map { "Racy $_" } 1 .. 40;
    for my $i (0 .. $#titles) {
        my $s = send_request('/api/TicketsApi/register',
            register_body($titles[$i]));
        sleep(($i % 10) * 0.002);
        close $s;
    }
    ok eventually(sub { active() == 0 }), 'racy: nothing left running';
    my %n = map { split /\|/ } $t->psql("SELECT title, count(*) FROM tickets"
        . " WHERE title LIKE 'Racy %' GROUP BY title");
    is scalar(grep { $_ > 1 } values %n), 0, 'racy: no write twice';
    # whole: a stored ticket has the row of its creation in history
    is scalar $t->psql("SELECT count(*) FROM tickets t WHERE title LIKE"
        . " 'Racy %' AND NOT EXISTS (SELECT FROM history h WHERE"
        . " h.ticket_id = t.id AND h.field = 'Created')"), 0,
        'racy: every stored write is whole';
    note sprintf 'racy: %d of %d stored', scalar keys %n, scalar @titles;
    healthy('racy');
}

# 5. A reload with worker_shutdown_timeout while a statement waits: at the
# timeout the old worker closes the connection, which cancels the
# statement, and it exits; no alert.
{
    $t->run(workers => 1, main_extra => 'worker_shutdown_timeout 1s;');
    my $master = (Tickets::Test::_slurp($t->dir . '/nginx.pid') =~ /(\d+)/)[0];
    my @workers = children($master);
    my $locker = hold_lock("SELECT 1 FROM tickets WHERE id = $id FOR UPDATE");
    my $s = send_request("/api/TicketsApi/update/$id",
        Tickets::Load::form_body(DueDate => '2032-02-03T04:05:00Z'));
    ok eventually(sub { waiting() == 1 }), 'shutdown timeout: an update waits';
    kill 'HUP', $master;
    ok eventually(sub { !grep { Tickets::Test::_alive($_) } @workers }),
        'shutdown timeout: the old worker exited';
    ok eventually(sub { waiting() == 0 && active() == 0 }),
        'shutdown timeout: its statement was cancelled';
    close $s;
    release_lock($locker);
    isnt scalar $t->psql("SELECT iso_utc(due_date) FROM tickets WHERE id ="
        . " $id"), '2032-02-03T04:05:00Z', 'shutdown timeout: no update';
    healthy('after the shutdown timeout');
}

sub children {
    my ($ppid) = @_;
    return grep { (Tickets::Test::_slurp("/proc/$_/stat")
        =~ /^\d+ \(.*\) \S (\d+)/s)[0] == $ppid }
        map { m{/proc/(\d+)/} ? $1 : () } glob '/proc/[0-9]*/stat';
}

# the access log says 499 for the cancelled ones, the error log why
my $access = Tickets::Test::_slurp($t->dir . '/access.log');
my $n499 = () = $access =~ /" 499 /g;
cmp_ok $n499, '>=', 2, "access log: 499 for the cancelled requests ($n499)";
like $t->error_log,
    qr/client closed the connection, its request is cancelled/,
    'error log: the cancellation at info';
like Tickets::Test::_slurp($t->{pglog}),
    qr/canceling statement due to user request/,
    'PostgreSQL: the statement was cancelled';

done_testing;
