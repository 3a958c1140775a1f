# frozen_string_literal: true
#
# Tests for core/director/renderer/bosh_renderer.rb over its line protocol.
#
#   ruby tests/unit/director/renderer_test.rb [path/to/bosh_renderer.rb]
#
# Every test talks to a real renderer subprocess.

require 'minitest/autorun'
require 'json'
require 'open3'
require 'tmpdir'
require 'fileutils'
require 'timeout'
require 'rbconfig'

# The renderer's path may come first; anything after it is minitest's (-v, --seed N, -n NAME).
RENDERER_PATH = File.expand_path(
  ARGV.first && !ARGV.first.start_with?('-') ? ARGV.shift : File.join(__dir__, '..', '..', '..', 'core', 'director', 'renderer', 'bosh_renderer.rb')
)
abort "renderer not found: #{RENDERER_PATH}" unless File.file?(RENDERER_PATH)

class RendererProcess
  attr_reader :stderr_text

  def initialize
    @stdin, @stdout, @stderr, @wait = Open3.popen3(RbConfig.ruby, RENDERER_PATH)
    @stderr_text = +''
    @stderr_reader = Thread.new do
      @stderr.each_line { |l| @stderr_text << l }
    rescue IOError
      nil
    end
  end

  def send_line(line)
    @stdin.write(line.end_with?("\n") ? line : "#{line}\n")
    @stdin.flush
  end

  def read_response
    Timeout.timeout(30) do
      line = @stdout.gets
      raise 'renderer closed stdout' if line.nil?

      JSON.parse(line)
    end
  end

  def request(hash)
    send_line(JSON.generate(hash))
    read_response
  end

  def alive?
    @wait.alive?
  end

  # Close stdin and return [exit status, everything left on stdout].
  def finish
    @stdin.close unless @stdin.closed?
    rest = Timeout.timeout(30) { @stdout.read }
    status = @wait.value
    @stderr_reader.join(5)
    [status, rest]
  end
end

class RendererTest < Minitest::Test
  @shared = nil
  class << self
    def shared
      @shared ||= RendererProcess.new
    end
  end

  Minitest.after_run { RendererTest.shared.finish if RendererTest.instance_variable_get(:@shared) }

  def setup
    @dir = Dir.mktmpdir('renderer-test')
    @next_id = 0
  end

  def teardown
    FileUtils.remove_entry(@dir)
  end

  def renderer
    self.class.shared
  end

  def write_template(name, text)
    path = File.join(@dir, name)
    FileUtils.mkdir_p(File.dirname(path))
    File.write(path, text)
    path
  end

  def base_context
    {
      'deployment' => 'cf',
      'job' => { 'name' => 'web' },
      'name' => 'web',
      'index' => 2,
      'id' => 'b3f1c2a4-0000-4000-8000-000000000001',
      'az' => 'z2',
      'bootstrap' => false,
      'address' => 'b3f1c2a4.web.default.cf.bosh',
      'ip' => '10.0.1.12',
      'networks' => {
        'default' => { 'ip' => '10.0.1.12', 'netmask' => '255.255.255.0', 'gateway' => '10.0.1.1',
                       'dns' => ['10.0.0.2'], 'default' => %w[dns gateway] },
        'back-end' => { 'ip' => '10.0.2.12', 'netmask' => '255.255.255.0', 'gateway' => '10.0.2.1' }
      },
      'properties' => {
        'kv' => { 'port' => 8080, 'host' => 'kv.internal', 'tags' => %w[a b], 'enabled' => false },
        'empty' => nil
      },
      'links' => {
        'db' => {
          'instances' => [
            { 'name' => 'postgres', 'id' => 'uuid-0', 'index' => 0, 'az' => 'z1', 'address' => '10.0.3.10', 'bootstrap' => true },
            { 'name' => 'postgres', 'id' => 'uuid-1', 'index' => 1, 'az' => 'z2', 'address' => '10.0.3.11', 'bootstrap' => false }
          ],
          'properties' => { 'port' => 5432, 'auth' => { 'user' => 'admin' } },
          'instance_group' => 'postgres_ig',
          'default_network' => 'default',
          'deployment_name' => 'cf',
          'domain' => 'bosh'
        },
        'lb' => { 'instances' => [], 'properties' => {}, 'address' => 'lb.example.com' }
      },
      'release' => { 'name' => 'kv-release', 'version' => '1.2.3' },
      'persistent_disk' => 1024
    }
  end

  # Render one template text; returns the response hash.
  def render(text, context: base_context, name: 'tpl.erb', dest: 'out', process: renderer)
    path = write_template(name, text)
    @next_id += 1
    process.request('id' => @next_id, 'templates' => [{ 'name' => name, 'path' => path, 'dest' => dest }],
                    'context' => context)
  end

  def render_ok(text, **opts)
    response = render(text, **opts)
    assert_nil response['error'], "unexpected error: #{response['error']}"
    response.fetch('rendered').fetch(opts.fetch(:dest, 'out'))
  end

  # --- p ---------------------------------------------------------------

  def test_p_returns_property_and_default
    out = render_ok("<%= p('kv.port') %>|<%= p('kv.missing', 'dflt') %>|<%= p('kv.enabled') %>|<%= p('nothing.here', nil).inspect %>")
    assert_equal '8080|dflt|false|nil', out
  end

  def test_p_missing_property_error_names_template_and_line
    response = render("line one\n<%= p('kv.port') %>\n<%= p('kv.absent') %>\n", name: 'ctl.erb')
    assert_equal %(Error filling in template 'ctl.erb' (line 3: Can't find property '["kv.absent"]')), response['error']
    refute response.key?('rendered')
  end

  def test_p_with_array_of_names_takes_first_set_one
    out = render_ok("<%= p(['kv.nope', 'kv.host', 'kv.port']) %>|<%= p(['a.b', 'c.d'], 42) %>")
    assert_equal 'kv.internal|42', out
    response = render("<%= p(['a.b', 'c.d']) %>")
    assert_equal %(Error filling in template 'tpl.erb' (line 1: Can't find property '["a.b", "c.d"]')), response['error']
  end

  def test_p_nested_hash_and_array_values
    out = render_ok("<%= p('kv')['host'] %>|<%= p('kv.tags').join(',') %>|<%= p('kv').keys.sort.join(',') %>")
    assert_equal 'kv.internal|a,b|enabled,host,port,tags', out
  end

  def test_p_null_property_counts_as_missing
    assert_equal 'fallback', render_ok("<%= p('empty', 'fallback') %>")
  end

  # --- if_p --------------------------------------------------------------

  def test_if_p_yields_all_values_and_skips_else
    out = render_ok("<% if_p('kv.host', 'kv.port') do |h, port| %>got <%= h %>:<%= port %><% end.else do %>ELSE<% end %>")
    assert_equal 'got kv.internal:8080', out
  end

  def test_if_p_else_runs_when_any_property_missing
    out = render_ok("<% if_p('kv.host', 'kv.none') do |h, n| %>THEN<% end.else do %>ELSE<% end %>")
    assert_equal 'ELSE', out
  end

  def test_if_p_false_value_is_set
    out = render_ok("<% if_p('kv.enabled') do |e| %>set=<%= e %><% end.else do %>unset<% end %>")
    assert_equal 'set=false', out
  end

  def test_else_if_p_chain
    tpl = "<% if_p('x.y') do %>one<% end.else_if_p('kv.port') do |port| %>two=<%= port %><% end.else do %>three<% end %>"
    assert_equal 'two=8080', render_ok(tpl)
    tpl2 = "<% if_p('x.y') do %>one<% end.else_if_p('x.z') do %>two<% end.else do %>three<% end %>"
    assert_equal 'three', render_ok(tpl2)
  end

  # --- spec and instance helpers -----------------------------------------

  def test_spec_fields
    tpl = '<%= spec.address %>|<%= spec.index %>|<%= spec.bootstrap %>|<%= spec.ip %>|<%= spec.az %>|' \
          '<%= spec.id %>|<%= spec.deployment %>|<%= spec.name %>|<%= spec.job.name %>|' \
          '<%= spec.release.name %>/<%= spec.release.version %>|<%= spec.persistent_disk %>'
    assert_equal 'b3f1c2a4.web.default.cf.bosh' \
                 '|2|false|10.0.1.12|z2|b3f1c2a4-0000-4000-8000-000000000001|cf|web|web|kv-release/1.2.3|1024',
                 render_ok(tpl)
  end

  def test_spec_networks
    tpl = "<%= spec.networks.default.ip %>|<%= spec.networks.default.gateway %>|<%= spec.networks.default.dns.first %>|" \
          "<%= spec.networks['back-end'].ip %>|<%= spec.networks.to_h.keys.sort.join(',') %>|" \
          "<%= spec.networks.default.default.join('+') %>"
    assert_equal '10.0.1.12|10.0.1.1|10.0.0.2|10.0.2.12|back-end,default|dns+gateway', render_ok(tpl)
  end

  def test_missing_spec_key_is_nil
    assert_equal 'nil|nil|true', render_ok('<%= spec.nonexistent.inspect %>|<%= spec.networks.nope.inspect %>|<%= spec.nonexistent.nil? %>')
  end

  def test_spec_properties_and_properties_openstruct
    assert_equal '8080|kv.internal', render_ok('<%= spec.properties.kv.port %>|<%= properties.kv.host %>')
  end

  def test_spec_methods_false_lists_keys
    out = render_ok('<%= spec.methods(false).sort.join(",") %>', context: { 'index' => 0, 'deployment' => 'd' })
    assert_equal 'deployment,index', out
  end

  def test_name_index_and_shortcuts
    assert_equal 'web|2|b3f1c2a4-0000-4000-8000-000000000001|z2|false',
                 render_ok('<%= name %>|<%= index %>|<%= id %>|<%= az %>|<%= bootstrap %>')
  end

  def test_name_falls_back_to_job_name
    out = render_ok('<%= name %>', context: { 'job' => { 'name' => 'legacy' }, 'properties' => {} })
    assert_equal 'legacy', out
  end

  def test_bootstrap_true_branch
    ctx = base_context.merge('bootstrap' => true, 'index' => 0)
    assert_equal 'FIRST', render_ok('<% if spec.bootstrap %>FIRST<% else %>OTHER<% end %>', context: ctx)
    assert_equal 'OTHER', render_ok('<% if spec.bootstrap %>FIRST<% else %>OTHER<% end %>')
  end

  # --- links ---------------------------------------------------------------

  def test_link_instances
    tpl = "<%= link('db').instances.map(&:address).join(',') %>|" \
          "<%= link('db').instances.map { |i| [i.name, i.id, i.index, i.az, i.bootstrap].join(':') }.join(' ') %>"
    assert_equal '10.0.3.10,10.0.3.11|postgres:uuid-0:0:z1:true postgres:uuid-1:1:z2:false', render_ok(tpl)
  end

  def test_link_p_and_if_p
    tpl = "<%= link('db').p('port') %>|<%= link('db').p('auth.user') %>|<%= link('db').p('auth.pass', 'none') %>|" \
          "<% link('db').if_p('auth.user') do |u| %>user=<%= u %><% end.else do %>nouser<% end %>|" \
          "<% link('db').if_p('auth.pass') do |u| %>pass<% end.else do %>nopass<% end %>"
    assert_equal '5432|admin|none|user=admin|nopass', render_ok(tpl)
  end

  def test_link_p_missing_error
    response = render("<%= link('db').p('auth.password') %>", name: 'db.yml.erb')
    assert_equal %(Error filling in template 'db.yml.erb' (line 1: Can't find property '["auth.password"]')), response['error']
  end

  def test_unknown_link_error
    response = render("ok\n\n<%= link('cache').instances.size %>", name: 'config.erb')
    assert_equal "Error filling in template 'config.erb' (line 3: Can't find link 'cache')", response['error']
  end

  def test_link_without_instances_is_unknown
    ctx = base_context
    ctx['links']['half'] = { 'properties' => { 'a' => 1 } }
    response = render("<%= link('half').p('a') %>", context: ctx)
    assert_equal "Error filling in template 'tpl.erb' (line 1: Can't find link 'half')", response['error']
  end

  def test_if_link_with_else
    tpl = "<% if_link('db') do |db| %>db=<%= db.instances.size %><% end.else do %>nodb<% end %>|" \
          "<% if_link('cache') do |c| %>cache<% end.else do %>nocache<% end %>|" \
          "<% if_link('cache') do |c| %>cache<% end.else_if_link('db') do |db| %>fallback=<%= db.p('port') %><% end %>"
    assert_equal 'db=2|nocache|fallback=5432', render_ok(tpl)
  end

  def test_link_address_manual_and_dns
    tpl = "<%= link('lb').address %>|<%= link('db').address %>|<%= link('db').address(status: 'healthy') %>"
    assert_equal 'lb.example.com|q-s0.postgres-ig.default.cf.bosh|q-s3.postgres-ig.default.cf.bosh', render_ok(tpl)
  end

  def test_link_address_az_filter
    tpl = "<%= link('db').address(azs: ['z2', 'z1']) %>"
    ctx = base_context.merge('dns_az_ids' => { 'z1' => 1, 'z2' => 2 })
    assert_equal 'q-a1a2s0.postgres-ig.default.cf.bosh', render_ok(tpl, context: ctx)
    assert_equal "Error filling in template 'tpl.erb' (line 1: Unknown AZ: 'z2')", render(tpl)['error']
  end

  def test_link_address_without_dns_information
    ctx = base_context
    ctx['links']['bare'] = { 'instances' => [], 'properties' => {} }
    response = render("<%= link('bare').address %>", context: ctx)
    assert_equal "Error filling in template 'tpl.erb' (line 1: link.address requires bosh director)", response['error']
  end

  # --- ERB details ------------------------------------------------------------

  def test_trim_mode_dash
    tpl = "a\n<%- [1, 2].each do |i| -%>\n  item <%= i %>\n<%- end -%>\nb\n"
    assert_equal "a\n  item 1\n  item 2\nb\n", render_ok(tpl)
  end

  def test_non_erb_extension_is_still_erb
    assert_equal "check process web\n  with pidfile /var/vcap/sys/run/web/2.pid\n",
                 render_ok("check process <%= name %>\n  with pidfile /var/vcap/sys/run/web/<%= index %>.pid\n",
                           name: 'monit', dest: 'monit')
  end

  def test_stdlib_helpers_available
    out = render_ok("<%= JSON.dump(p('kv.tags')) %>|<%= p('kv.tags').to_yaml.lines.first.strip %>|<%= Shellwords.escape('a b') %>|<%= ''.blank? %><%= 'x'.present? %>")
    assert_equal '["a","b"]|---|a\\ b|truetrue', out
  end

  def test_templates_do_not_share_mutations
    a = write_template('a.erb', "<% p('kv.tags') << 'mutated' %><%= p('kv.tags').size %>")
    b = write_template('b.erb', "<%= p('kv.tags').size %>")
    response = renderer.request('id' => 'm', 'context' => base_context,
                                'templates' => [{ 'name' => 'a.erb', 'path' => a, 'dest' => 'a' },
                                                { 'name' => 'b.erb', 'path' => b, 'dest' => 'b' }])
    assert_equal({ 'a' => '3', 'b' => '2' }, response['rendered'])
  end

  def test_template_locals_do_not_leak_between_renders
    path = write_template('locals.erb', "<%= defined?(counter) ? 'leaked' : 'fresh' %><% counter = 1 %>")
    2.times do |i|
      response = renderer.request('id' => i, 'context' => base_context,
                                  'templates' => [{ 'name' => 'locals.erb', 'path' => path, 'dest' => 'x' }])
      assert_equal 'fresh', response['rendered']['x']
    end
  end

  def test_template_ruby_features
    tpl = "<% s = 'abc'; s << 'd' %><%= s %>|<% LIMIT = 3 unless defined?(LIMIT) %><%= LIMIT %>|" \
          "<% def twice(x) x * 2 end %><%= twice(p('kv.port')) %>|<%= [1, 2].map { |i| i + index }.join(',') %>"
    2.times { assert_equal 'abcd|3|16160|3,4', render_ok(tpl) }
  end

  # --- failures ----------------------------------------------------------------

  def test_template_that_raises
    response = render("a\nb\n<% raise 'boom here' %>\n", name: 'bad.erb')
    assert_equal "Error filling in template 'bad.erb' (line 3: boom here)", response['error']
  end

  def test_raise_inside_if_p_block_reports_inner_line
    response = render("<% if_p('kv.port') do |port| %>\n\n<%= port.fetch(:x) %>\n<% end %>")
    assert_match(/\AError filling in template 'tpl.erb' \(line 3: undefined method `fetch' for 8080:Integer/, response['error'])
  end

  def test_undefined_name_error
    response = render('<%= no_such_helper %>')
    assert_match(/\AError filling in template 'tpl.erb' \(line 1: undefined local variable or method `no_such_helper'/, response['error'])
  end

  def test_syntax_error_names_line
    response = render("ok\n<% if true %>\nnever closed\n", name: 'syntax.erb')
    assert_match(/\AError filling in template 'syntax\.erb' \(line \d+: .*syntax error/m, response['error'])
    refute_includes response['error'], @dir, 'the file path prefix is stripped from the message'
  end

  def test_several_failing_templates_are_joined
    a = write_template('one.erb', "<%= p('x.one') %>")
    ok = write_template('fine.erb', 'fine')
    b = write_template('two.erb', "\n<%= link('nope') %>")
    response = renderer.request('id' => 'multi', 'context' => base_context,
                                'templates' => [{ 'name' => 'one.erb', 'path' => a, 'dest' => '1' },
                                                { 'name' => 'fine.erb', 'path' => ok, 'dest' => 'f' },
                                                { 'name' => 'two.erb', 'path' => b, 'dest' => '2' }])
    assert_equal 'multi', response['id']
    assert_equal "Error filling in template 'one.erb' (line 1: Can't find property '[\"x.one\"]')\n" \
                 "Error filling in template 'two.erb' (line 2: Can't find link 'nope')", response['error']
    refute response.key?('rendered')
  end

  def test_missing_template_file
    response = renderer.request('id' => 5, 'context' => base_context,
                                'templates' => [{ 'name' => 'gone.erb', 'path' => File.join(@dir, 'gone.erb'), 'dest' => 'g' }])
    assert_match(/\AError filling in template 'gone\.erb' \(line \(unknown\): No such file or directory/, response['error'])
  end

  def test_template_calling_exit_does_not_stop_renderer
    response = render('<% exit 3 %>')
    assert_match(/\AError filling in template 'tpl.erb' \(line 1: exit/, response['error'])
    assert renderer.alive?
    assert_equal 'still here', render_ok('still here')
  end

  # --- protocol ------------------------------------------------------------------

  def test_multiple_templates_map_to_their_dests
    ctl = write_template('ctl.erb', '#!/bin/bash -e <%= p("kv.port") %>')
    monit = write_template('monit', 'check process <%= name %>')
    response = renderer.request('id' => 7, 'context' => base_context,
                                'templates' => [{ 'name' => 'ctl.erb', 'path' => ctl, 'dest' => 'bin/ctl' },
                                                { 'name' => 'monit', 'path' => monit, 'dest' => 'monit' }])
    assert_equal({ 'id' => 7, 'rendered' => { 'bin/ctl' => '#!/bin/bash -e 8080', 'monit' => 'check process web' } }, response)
  end

  def test_template_printing_to_stdout_does_not_corrupt_protocol
    proc_ = RendererProcess.new
    tpl = "<% puts 'noise from puts'; print 'noise from print'; STDOUT.write(\"raw\\n\"); $stdout.puts 'x'; " \
          "system('echo', 'noise from child'); $stdin.read; STDIN.gets %>clean"
    assert_equal 'clean', render_ok(tpl, process: proc_)
    assert_equal 'next', render_ok('next', process: proc_)
    status, rest = proc_.finish
    assert status.success?
    assert_equal '', rest
    assert_includes proc_.stderr_text, 'noise from child'
    assert_includes proc_.stderr_text, 'noise from puts'
  end

  def test_template_reassigning_stdout_is_undone
    proc_ = RendererProcess.new
    assert_equal 'a', render_ok("<% $stdout = StringIO.new %>a", process: proc_)
    assert_equal 'b', render_ok("<% puts 'after' %>b", process: proc_)
    status, rest = proc_.finish
    assert status.success?
    assert_equal '', rest
    assert_includes proc_.stderr_text, 'after'
  end

  def test_bad_json_then_good_request
    proc_ = RendererProcess.new
    proc_.send_line('this is {not json')
    bad = proc_.read_response
    assert_nil bad['id']
    assert_match(/\Abad request: invalid JSON: /, bad['error'])
    assert_equal 'good', render_ok('good', process: proc_)
    proc_.send_line((+"\xff\xfe not utf-8 {").force_encoding(Encoding::BINARY))
    assert_match(/\Abad request: invalid JSON: /, proc_.read_response['error'])
    proc_.send_line('')
    assert_equal 'after blank line', render_ok('after blank line', process: proc_)
    status, rest = proc_.finish
    assert status.success?
    assert_equal '', rest
  end

  def test_malformed_requests_keep_id
    path = write_template('t.erb', 'x')
    cases = {
      { 'id' => 1 } => "bad request: missing or non-array 'templates'",
      { 'id' => 2, 'templates' => [{ 'name' => 't', 'path' => path }], 'context' => {} } =>
        "bad request: templates[0] needs a non-empty string 'dest'",
      { 'id' => 3, 'templates' => ['nope'], 'context' => {} } => 'bad request: templates[0] is not an object',
      { 'id' => 4, 'templates' => [] } => "bad request: missing or non-object 'context'",
      { 'id' => 5, 'templates' => [], 'context' => [1] } => "bad request: missing or non-object 'context'"
    }
    cases.each do |request, error|
      assert_equal({ 'id' => request['id'], 'error' => error }, renderer.request(request))
    end
    renderer.send_line('[1, 2]')
    assert_equal({ 'id' => nil, 'error' => 'bad request: request is not a JSON object' }, renderer.read_response)
  end

  def test_empty_template_list_renders_nothing
    assert_equal({ 'id' => 'e', 'rendered' => {} }, renderer.request('id' => 'e', 'templates' => [], 'context' => {}))
  end

  def test_many_requests_in_one_process
    proc_ = RendererProcess.new
    path = write_template('many.erb', "<%= spec.index %>:<%= p('n') %>:<%= link('db').instances.size %>")
    300.times do |i|
      ctx = { 'index' => i, 'properties' => { 'n' => i * 2 },
              'links' => { 'db' => { 'instances' => Array.new(i % 4) { { 'address' => 'a' } } } } }
      proc_.send_line(JSON.generate('id' => i, 'context' => ctx,
                                    'templates' => [{ 'name' => 'many.erb', 'path' => path, 'dest' => 'd' }]))
    end
    300.times do |i|
      response = proc_.read_response
      assert_equal i, response['id']
      assert_equal "#{i}:#{i * 2}:#{i % 4}", response['rendered']['d']
    end
    status, rest = proc_.finish
    assert status.success?
    assert_equal '', rest
  end

  def test_changed_template_file_is_recompiled
    path = write_template('changing.erb', 'version one <%= index %>')
    assert_equal 'version one 2', renderer.request('id' => 1, 'context' => base_context,
                                                   'templates' => [{ 'name' => 'c', 'path' => path, 'dest' => 'c' }])['rendered']['c']
    File.write(path, 'version two, longer <%= index %>')
    File.utime(Time.now + 5, Time.now + 5, path)
    assert_equal 'version two, longer 2', renderer.request('id' => 2, 'context' => base_context,
                                                           'templates' => [{ 'name' => 'c', 'path' => path, 'dest' => 'c' }])['rendered']['c']
  end

  def test_same_size_rewrite_with_same_mtime_is_noticed
    path = write_template('racy.erb', 'AAAA')
    stamp = Time.now
    File.utime(stamp, stamp, path)
    request = { 'id' => 'r', 'context' => {}, 'templates' => [{ 'name' => 'r', 'path' => path, 'dest' => 'r' }] }
    assert_equal 'AAAA', renderer.request(request)['rendered']['r']
    File.write(path, 'BBBB')
    File.utime(stamp, stamp, path)
    assert_equal 'BBBB', renderer.request(request)['rendered']['r']
  end

  def test_unicode_round_trip
    assert_equal "héllo ✓ #{'ü' * 3}", render_ok("héllo ✓ <%= p('u') %>", context: { 'properties' => { 'u' => 'üüü' } })
  end
end
