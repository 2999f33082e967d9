package Tickets::Load;

# Clients that write and read under faults, for t/60-reload.t and
# t/chaos.pl: each is a forked process that keeps a log of every attempt,
# and the parent reads the logs back to account for every request.
#
#   my $l = Tickets::Load->new(t => $t, clients => 8, token => $tok,
#       tickets => \@ids, prefix => 'rl');
#   $l->start;  ...faults...  $l->stop;
#   my @a = $l->attempts;   # every attempt of every client
#
# A request goes over its own connection (Connection: close), so that an
# answer that never came cannot be an idle keep-alive connection that the
# server closed: any attempt without a whole response is unanswered.
# Attempts are classified by their outcome:
#   answer   a whole response (status in {status})
#   refused  the connection was refused: nothing was sent
#   reset    the connection was reset or closed before a whole response
#   timeout  no whole response within the timeout
#
# Writes carry what identifies them afterwards in the database: registers
# and replies an Idempotency-Key (also in their text), updates a due date
# of the client's own ticket that no other update sets (the history
# records it: "<prefix>-c<client>-u<n>" is its key).  A write whose
# answer did not come, or that got a 5xx, is retried the same (same key,
# same title) until it is answered or the run stops.
#
# Core Perl only.

use strict;
use warnings;

use Errno qw(EAGAIN EINTR ECONNREFUSED ECONNRESET EPIPE);
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time sleep);

use Tickets::Test;

my $JSON = JSON::PP->new->utf8->canonical;


# One HTTP/1.1 request on a fresh connection: a hash with
# outcome (answer, refused, reset, timeout), status, headers, body, err.
sub request {
    my ($port, $method, $path, %o) = @_;
    my $timeout = $o{timeout} // 30;
    my $body = $o{body} // '';
    my %h = (Host => "127.0.0.1:$port", Connection => 'close',
        %{$o{headers} // {}});
    $h{'Content-Length'} = length $body if length $body || $method eq 'POST';
    my $req = "$method $path HTTP/1.1\r\n"
        . join('', map { "$_: $h{$_}\r\n" } sort keys %h) . "\r\n" . $body;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
        Proto => 'tcp', Timeout => 5);
    unless ($s) {
        my $e = $! + 0;
        return { outcome => $e == ECONNREFUSED ? 'refused' : 'timeout',
                 err => "connect: $!" };
    }
    setsockopt $s, IPPROTO_TCP, TCP_NODELAY, 1;
    $s->blocking(0);
    my $sel = IO::Select->new($s);
    my $until = time + $timeout;

    my $off = 0;
    while ($off < length $req) {
        my $left = $until - time;
        return _broken($s, 'timeout', 'sending') if $left <= 0;
        next unless $sel->can_write($left);
        my $n = syswrite $s, $req, length($req) - $off, $off;
        if (!defined $n) {
            next if $! == EAGAIN || $! == EINTR;
            return _broken($s, 'reset', "send: $!");
        }
        $off += $n;
    }

    my $in = '';
    for (;;) {
        my $left = $until - time;
        return _broken($s, 'timeout', 'reading', $in) if $left <= 0;
        next unless $sel->can_read($left);
        my $n = sysread $s, my $buf, 65536;
        if (!defined $n) {
            next if $! == EAGAIN || $! == EINTR;
            return _broken($s, 'reset', "recv: $!", $in);
        }
        last if $n == 0;
        $in .= $buf;
    }
    close $s;

    my ($head, $content) = split /\r\n\r\n/, $in, 2;
    return { outcome => 'reset', err => 'EOF before a response', got => 0 }
        unless defined $content && $head =~ m{^HTTP/1\.[01] (\d{3})};
    my %rh;
    my $status = $1;
    for (split /\r\n/, $head) {
        $rh{lc $1} = $2 if /^([^:]+):\s*(.*)$/;
    }
    return { outcome => 'reset', err => 'a partial body', got => length $in }
        if defined $rh{'content-length'}
           && length $content < $rh{'content-length'};
    my $r = { outcome => 'answer', status => $status, headers => \%rh,
              body => $content };
    $r->{json} = eval { $JSON->decode($content) }
        if ($rh{'content-type'} // '') =~ /json/;
    return $r;
}

sub _broken {
    my ($s, $outcome, $err, $in) = @_;
    close $s;
    return { outcome => $outcome, err => $err, got => length($in // '') };
}

sub form_body {
    my (@f) = @_;
    my @p;
    while (my ($k, $v) = splice @f, 0, 2) {
        push @p, Tickets::Test::urlencode($k) . '='
            . Tickets::Test::urlencode($v);
    }
    return join '&', @p;
}


# The clients ---------------------------------------------------------------

# t (a Tickets::Test), clients, token (admin), tickets (one per client, for
# its replies and updates), prefix (what the run's writes carry), mix (the
# weights of register, reply, update, get), port (default $t->port),
# retry_for (seconds a write is retried before it is given up, default 60).
sub new {
    my ($class, %o) = @_;
    my $self = bless { clients => 8, prefix => 'load', retry_for => 60,
        mix => { register => 3, reply => 3, update => 2, get => 2 }, %o },
        $class;
    $self->{port} //= $self->{t}->port;
    $self->{dir} = $self->{t}->dir . "/load-$self->{prefix}";
    mkdir $self->{dir} or die "$self->{dir}: $!";
    $self->{creator} = $self->{t}->user_id('member1');
    return $self;
}

# Tickets for the clients to reply to and update: one per client.
sub make_tickets {
    my ($self) = @_;
    my @ids;
    for my $c (1 .. $self->{clients}) {
        my $r = request($self->{port}, POST => '/api/TicketsApi/register',
            body => form_body($self->_ticket_form("$self->{prefix}-own$c")),
            headers => $self->_headers(form => 1));
        die "register: $r->{outcome} " . ($r->{status} // '') . "\n"
            unless ($r->{status} // 0) == 201;
        push @ids, $r->{json}{id};
    }
    $self->{tickets} = \@ids;
    return @ids;
}

sub _ticket_form {
    my ($self, $title) = @_;
    return (Title => $title, Description => 'Load.',
        CreatorId => $self->{creator}, SiteId => 1, DepartmentId => 1,
        TicketStatusId => 1, TicketType => 'Incident');
}

sub _headers {
    my ($self, %o) = @_;
    return { Authorization => "Bearer $self->{token}",
        ($o{form} ? ('Content-Type' => 'application/x-www-form-urlencoded')
                  : ()),
        ($o{key} ? ('Idempotency-Key' => $o{key}) : ()) };
}

sub stop_file { "$_[0]{dir}/stop" }

sub start {
    my ($self) = @_;
    $self->make_tickets unless $self->{tickets};
    unlink $self->stop_file;
    for my $c (1 .. $self->{clients}) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            # the instance belongs to the parent: leave it alone at exit
            $self->{t}{owner} = 0;
            $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP);
            srand($$ ^ time);
            eval { $self->_client($c) };
            print STDERR "client $c: $@" if $@;
            POSIX::_exit($@ ? 1 : 0);
        }
        push @{$self->{pids}}, $pid;
    }
    return $self;
}

# Asks the clients to stop after their current write, waits for them.
sub stop {
    my ($self) = @_;
    open my $fh, '>', $self->stop_file or die "stop: $!";
    close $fh;
    waitpid $_, 0 for @{$self->{pids} // []};
    $self->{pids} = [];
    return $self;
}

sub _stopping { -e $_[0]->stop_file }

sub _pick {
    my ($self) = @_;
    my $m = $self->{mix};
    my $sum = 0;
    $sum += $m->{$_} for keys %$m;
    my $x = rand $sum;
    for (sort keys %$m) {
        return $_ if ($x -= $m->{$_}) < 0;
    }
    return 'get';
}

sub _client {
    my ($self, $c) = @_;
    open my $log, '>>', "$self->{dir}/client$c.log" or die "log: $!";
    $log->autoflush(1);
    my $ticket = $self->{tickets}[$c - 1];
    my ($n, $u) = (0, 0);
    my $p = $self->{prefix};

    until ($self->_stopping) {
        my $op = $self->_pick;
        $n++;
        my $key = "$p-c$c-n$n";
        my ($method, $path, $body, $headers) = ('GET',
            "/api/TicketsApi/$ticket", undef, $self->_headers);
        if ($op eq 'register') {
            ($method, $path) = (POST => '/api/TicketsApi/register');
            $body = form_body($self->_ticket_form($key));
            $headers = $self->_headers(form => 1, key => $key);
        } elsif ($op eq 'reply') {
            ($method, $path) = (POST => "/api/TicketsApi/reply/$ticket");
            $body = form_body(Id => $ticket, Title => "Re $key",
                SendTo => 'load@example.com', Message => $key);
            $headers = $self->_headers(form => 1, key => $key);
        } elsif ($op eq 'update') {
            $u++;
            $key = "$p-c$c-u$u";
            ($method, $path) = (POST => "/api/TicketsApi/update/$ticket");
            $body = form_body(DueDate => $self->due_date($c, $u));
            $headers = $self->_headers(form => 1);
        }

        # a write is retried until answered with something else than a 5xx
        my $first = time;
        for (my $try = 1; ; $try++) {
            my $t0 = time;
            my $r = request($self->{port}, $method, $path, body => $body,
                headers => $headers);
            my $t1 = time;
            my $rec = { c => $c, op => $op, key => $key, try => $try,
                t0 => $t0, t1 => $t1, outcome => $r->{outcome},
                status => $r->{status}, err => $r->{err} };
            $rec->{id} = $r->{json}{id}
                if ref $r->{json} eq 'HASH' && defined $r->{json}{id};
            print $log $JSON->encode($rec), "\n";
            my $done = $r->{outcome} eq 'answer' && $r->{status} < 500;
            last if $done || $op eq 'get';
            last if $self->_stopping && $r->{outcome} eq 'refused';
            last if time - $first > $self->{retry_for};
            sleep($r->{outcome} eq 'answer' ? 0.2 : 0.05);
        }
    }
    close $log;
}

# The due date that update n of client c sets, as the history shows it:
# a minute of its own, years ahead.
sub due_date {
    my ($self, $c, $n) = @_;
    my @t = gmtime(1956528000 + ($c * 1000000 + $n) * 60);
    return POSIX::strftime('%Y-%m-%dT%H:%M:%SZ', @t);
}

# Every attempt of every client, in the order of their start.
sub attempts {
    my ($self) = @_;
    my @a;
    for my $f (glob "$self->{dir}/client*.log") {
        open my $fh, '<', $f or die "$f: $!";
        while (<$fh>) {
            push @a, $JSON->decode($_);
        }
    }
    return sort { $a->{t0} <=> $b->{t0} } @a;
}

# The accounting of a run against the database: a hash of
#   acked      writes answered 2xx (register, reply, update)
#   lost       acknowledged writes that are not in the database
#   dup        acknowledged writes that are in it more than once
#   unanswered attempts without a whole response (reset or timeout),
#              as the list of those attempts, each with {present}: whether
#              this attempt wrote its write (a row of it whose transaction
#              time is within the attempt; undef for a read)
#   errors     answers that are neither 2xx nor an expected 503/5xx
#   by_outcome counts per outcome, by_status per status
sub account {
    my ($self) = @_;
    my $t = $self->{t};
    my $p = $self->{prefix};
    my @a = $self->attempts;

    # each write's rows: key => [the epoch of each row's transaction]
    my %in = (register => {}, reply => {}, update => {});
    for ($t->psql("SELECT title, extract(epoch FROM created_on) FROM tickets"
            . " WHERE title LIKE " . Tickets::Test::quote("$p-c%"))) {
        my ($k, $e) = split /\|/;
        push @{$in{register}{$k}}, $e;
    }
    for ($t->psql("SELECT message, extract(epoch FROM created_on) FROM"
            . " conversations WHERE message LIKE "
            . Tickets::Test::quote("$p-c%"))) {
        my ($k, $e) = split /\|/;
        push @{$in{reply}{$k}}, $e;
    }
    my %date_of;
    for (@a) {
        next unless $_->{op} eq 'update' && $_->{key} =~ /-c(\d+)-u(\d+)$/;
        $date_of{$self->due_date($1, $2)} = $_->{key};
    }
    for ($t->psql("SELECT h.new_value, extract(epoch FROM h.changed_on) FROM"
            . " history h WHERE h.field = 'dueDate' AND h.ticket_id IN ("
            . join(',', 0, @{$self->{tickets} // []}) . ')')) {
        my ($v, $e) = split /\|/;
        push @{$in{update}{$date_of{$v}}}, $e if defined $date_of{$v};
    }

    my %acc = (acked => 0, lost => [], dup => [], unanswered => [],
        errors => [], by_outcome => {}, by_status => {}, attempts => \@a,
        reads => 0);
    my %acked;
    for my $x (@a) {
        $acc{by_outcome}{$x->{outcome}}++;
        $acc{by_status}{$x->{status}}++ if defined $x->{status};
        $acc{reads}++ if $x->{op} eq 'get' && $x->{outcome} eq 'answer'
            && $x->{status} == 200;
        if ($x->{outcome} eq 'reset' || $x->{outcome} eq 'timeout') {
            # whether this attempt wrote it (not a retry of it): the
            # transaction's time falls within the attempt
            $x->{present} = $in{$x->{op}} ? scalar grep {
                    $_ >= $x->{t0} - 0.01 && $_ <= $x->{t1} + 0.01 }
                @{$in{$x->{op}}{$x->{key}} // []} : undef;
            push @{$acc{unanswered}}, $x;
            next;
        }
        next unless $x->{outcome} eq 'answer';
        if ($x->{status} >= 200 && $x->{status} < 300) {
            $acked{"$x->{op} $x->{key}"} = $x if $x->{op} ne 'get';
        } elsif ($x->{status} != 503 && $x->{status} < 500) {
            push @{$acc{errors}}, $x;
        }
    }
    for my $k (sort keys %acked) {
        my $x = $acked{$k};
        my $n = @{$in{$x->{op}}{$x->{key}} // []};
        push @{$acc{lost}}, $x if $n == 0;
        push @{$acc{dup}}, $x if $n > 1;
    }
    $acc{acked} = keys %acked;
    return \%acc;
}

# An attempt in a line; times relative to $base when given.
sub describe {
    my ($x, $base) = @_;
    $base //= 0;
    return sprintf '%s %s try %d at %.3f-%.3f: %s%s%s', $x->{op}, $x->{key},
        $x->{try}, $x->{t0} - $base, $x->{t1} - $base, $x->{outcome},
        defined $x->{status} ? " $x->{status}" : '',
        $x->{err} ? " ($x->{err})" : '';
}

1;
